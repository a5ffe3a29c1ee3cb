"""A client on each green handler against a real ZooKeeper, without monkey-patching: the hub
runs in the test's thread, and a ticking greenlet shows it is never blocked, not even while
a request waits for a server that has been paused (SIGSTOP)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState, WatchedEvent

from .conftest import WAIT
from .flavours import Flavour

pytestmark = pytest.mark.integration

PAUSE = 0.5  # how long the server is stopped while a get waits
TICK = 0.005
#: Session timeout: a stalled server can hold back the closeSession reply, but stop() waits
#: for it at most 2/3 of this (2.7 s), which bounds the stop() asserted below.
SESSION_TIMEOUT = 4.0
STOP_BOUND = 3.0


class Ticker:
    """A greenlet that notes the time every ``TICK`` seconds while it runs."""

    def __init__(self, kind: Flavour) -> None:
        self.kind = kind
        self.times: list[float] = []
        self.running = True
        self.greenlet = kind.spawn(self._run)

    def _run(self) -> None:
        while self.running:
            self.times.append(time.monotonic())
            self.kind.sleep(TICK)

    def longest_gap(self, since: int = 0) -> float:
        times = self.times[since:]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


@pytest.fixture
def ticker(kind: Flavour) -> Iterator[Ticker]:
    ticker = Ticker(kind)
    yield ticker
    ticker.running = False


@pytest.fixture
def green_client(kind: Flavour, zk_hosts: str) -> Iterator[KazooClient]:
    client = KazooClient(zk_hosts, timeout=SESSION_TIMEOUT, handler=kind.handler())
    try:
        yield client
    finally:
        client.stop()
        client.close()


def member_of(cluster: Any, client: KazooClient) -> Any:
    address = client._connection._address  # type: ignore[union-attr]
    return next(member for member in cluster if member.address[1] == address[1])


def test_start_create_get_watch_stop(
    kind: Flavour, green_client: KazooClient, ticker: Ticker
) -> None:
    client = green_client
    states: list[KazooState] = []
    client.add_listener(states.append)
    client.start(timeout=WAIT)
    assert client.connected and client.handler.running
    assert client.create("/node", b"one") == "/node"
    assert client.get("/node")[0] == b"one"

    fired, events = kind.event(), []

    def watch(event: WatchedEvent) -> None:
        events.append(event)
        fired.set()

    client.get("/node", watch=watch)
    kind.spawn(client.set, "/node", b"two")  # another greenlet changes it
    assert fired.wait(WAIT)
    assert [(e.type, e.path) for e in events] == [(EventType.CHANGED, "/node")]

    names = [f"n{i}" for i in range(20)]
    done = [kind.event() for _ in names]

    def create(i: int) -> None:  # many greenlets on one client at once
        client.create(f"/node/{names[i]}", names[i].encode())
        done[i].set()

    for i in range(len(names)):
        kind.spawn(create, i)
    assert all(event.wait(WAIT) for event in done)
    assert sorted(client.get_children("/node")) == sorted(names)
    values = [client.get_async(f"/node/{name}") for name in names]
    assert [r.get(timeout=WAIT)[0] for r in values] == [n.encode() for n in names]

    began = time.monotonic()
    client.stop()
    assert time.monotonic() - began < STOP_BOUND
    assert states[0] == KazooState.CONNECTED and states[-1] == KazooState.LOST
    assert ticker.longest_gap() < 0.25, "the hub stood still"


def test_the_hub_runs_while_a_get_waits_for_a_paused_server(
    kind: Flavour, green_client: KazooClient, ticker: Ticker, zookeeper_cluster: Any
) -> None:
    client = green_client
    client.start(timeout=WAIT)
    path = f"/paused-{uuid.uuid4().hex}"
    client.create(path, b"x")
    member = member_of(zookeeper_cluster, client)

    def resume_later() -> None:
        kind.sleep(PAUSE)
        member.resume()

    member.pause()
    try:
        kind.spawn(resume_later)
        first = len(ticker.times)
        began = time.monotonic()
        assert client.get(path)[0] == b"x"  # answered once the server runs again
        waited = time.monotonic() - began
    finally:
        member.resume()
    assert waited >= PAUSE * 0.8, f"the get did not wait for the server ({waited:.3f} s)"
    assert len(ticker.times) - first >= (PAUSE / TICK) / 4
    assert ticker.longest_gap(first) < 0.25, "the hub stood still while the get waited"
    client.delete(path)
