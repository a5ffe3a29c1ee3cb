"""``stop()`` hygiene under every handler (all three in a process that is not
monkey-patched, else the one it is patched for): 100 start/stop cycles against a live
server, and 100 failed starts against a closed port, leave no thread, greenlet or socket
behind, and every ``stop()`` returns within its bound."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from ..green.flavours import PROCESS_KINDS, Flavour, flavour, open_sockets

pytestmark = pytest.mark.integration

CYCLES = 100
#: Session timeout of the live-server clients. A server that stalls (a slow fsync on a
#: busy machine) can hold the closeSession reply back, but stop() waits for it at most
#: 2/3 of the session timeout, so that is what bounds a stop() here.
LIVE_TIMEOUT = 4.0
STOP_BOUND = 3.0  # seconds: one stop() against a live server (2/3 of 4 s, plus slack)
CLEANUP_BOUND = 2.0  # seconds: the clean-up after a failed start (no server to wait for)
FAIL_FAST = 0.05  # start(timeout=...) against the closed port
SETTLE = 5.0  # bound on waiting for finished threads and greenlets to be gone


@dataclass(frozen=True)
class Resources:
    threads: frozenset[threading.Thread]
    greenlets: int
    sockets: int

    @classmethod
    def now(cls, kind: Flavour) -> Resources:
        alive = frozenset(t for t in threading.enumerate() if t.is_alive())
        return cls(alive, kind.live_greenlets(), open_sockets())

    def leaks(self, later: Resources) -> list[str]:
        problems = []
        if later.threads - self.threads:
            problems.append(f"threads: {sorted(t.name for t in later.threads - self.threads)}")
        if later.greenlets > self.greenlets:
            problems.append(f"greenlets: {later.greenlets - self.greenlets} more")
        if later.sockets > self.sockets:
            problems.append(f"sockets: {later.sockets - self.sockets} more")
        return problems


def settled(kind: Flavour, baseline: Resources) -> list[str]:
    """What is still left over compared with ``baseline``, once what has finished is gone."""
    deadline = time.monotonic() + SETTLE
    while True:
        problems = baseline.leaks(Resources.now(kind))
        if not problems or time.monotonic() > deadline:
            return problems
        kind.sleep(0.02)  # a finished thread or greenlet is still returning


@pytest.fixture(params=PROCESS_KINDS)
def kind(request: pytest.FixtureRequest) -> Flavour:
    kind = flavour(request.param)
    kind.hub()
    return kind


@pytest.fixture
def closed_port() -> Iterator[int]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connections are refused at once
    yield port


def warm_up(kind: Flavour, hosts: str) -> Resources:
    """Start and stop one client, so whatever is made once per process exists; then the
    baseline."""
    client = KazooClient(hosts, timeout=15.0, handler=kind.handler())
    try:
        client.start(timeout=15)
    finally:
        client.stop()
        client.close()
    return Resources.now(kind)


def with_workers(kind: Flavour, base: Resources, handler: Any) -> Resources:
    """``base`` plus the workers a running ``handler`` has now (a worker exists only while
    it has callbacks to run, and ends by itself once idle)."""
    if kind.green:
        return Resources(base.threads, base.greenlets + len(handler._workers), base.sockets)
    return Resources(base.threads | frozenset(handler._threads), base.greenlets, base.sockets)


def test_start_stop_cycles_against_a_live_server(kind: Flavour, zk_hosts: str) -> None:
    before = warm_up(kind, zk_hosts)
    client = KazooClient(zk_hosts, timeout=LIVE_TIMEOUT, handler=kind.handler())
    try:
        slowest = 0.0
        for _ in range(CYCLES):
            client.start(timeout=15)
            assert client.connected
            began = time.monotonic()
            client.stop()
            slowest = max(slowest, time.monotonic() - began)
            assert not client.connected and client.state == KazooState.LOST
        assert slowest < STOP_BOUND, f"a stop() took {slowest:.2f} s"
        running = with_workers(kind, before, client.handler)
        assert settled(kind, running) == [], "left behind while the handler runs"
    finally:
        client.stop()
        client.close()
    assert settled(kind, before) == [], "left behind after close()"


def test_failed_starts_against_a_closed_port(kind: Flavour, closed_port: int) -> None:
    before = Resources.now(kind)
    client = KazooClient(f"127.0.0.1:{closed_port}", timeout=15.0, handler=kind.handler())
    slowest = 0.0
    for _ in range(CYCLES):
        began = time.monotonic()
        with pytest.raises(client.handler.timeout_exception):
            client.start(timeout=FAIL_FAST)  # stops and closes the client itself
        slowest = max(slowest, time.monotonic() - began - FAIL_FAST)
        assert client.state == KazooState.LOST and not client.handler.running
        began = time.monotonic()
        client.stop()  # nothing left to stop
        client.close()
        slowest = max(slowest, time.monotonic() - began)
    assert slowest < CLEANUP_BOUND, f"clean-up after a failed start took {slowest:.2f} s"
    assert settled(kind, before) == [], "left behind by failed starts"


def test_a_leak_is_seen(kind: Flavour) -> None:
    """The checks above can fail: a socket and a thread (or greenlet) left running are
    reported."""
    before = Resources.now(kind)
    stop = kind.event()
    worker: Any = kind.spawn(stop.wait, SETTLE)
    extra = socket.socket()
    try:
        problems = before.leaks(Resources.now(kind))
        assert any(p.startswith("sockets") for p in problems), problems
        what = "greenlets" if kind.green else "threads"
        assert any(p.startswith(what) for p in problems), problems
    finally:
        extra.close()
        stop.set()
        if not kind.green:
            worker.join(SETTLE)
    assert settled(kind, before) == []
