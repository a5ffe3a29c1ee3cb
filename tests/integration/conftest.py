"""Small helpers shared by the client integration tests (fixtures only).

The ZooKeeper fixtures themselves (``zookeeper_cluster``, ``zk_hosts``,
``zk_client``) come from ``kazoo.testing.pytest_plugin``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.protocol.states import Callback
from kazoo.testing.handlers import make_handler

from .. import cluster_helpers

WAIT = 15.0  # upper bound of every wait on a server round trip or an event


class EventLog:
    """A watch callback / state listener that records what it is given."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.items), timeout)

    def wait_count(self, count: int = 1, timeout: float = WAIT) -> bool:
        return self.wait_for(lambda items: len(items) >= count, timeout)

    def wait_item(self, item: Any, timeout: float = WAIT) -> bool:
        return self.wait_for(lambda items: item in items, timeout)


class Helpers:
    """Barriers and fault helpers the test modules share."""

    EventLog = EventLog
    WAIT = WAIT

    @staticmethod
    def drain_callbacks(client: KazooClient, timeout: float = WAIT) -> None:
        """Wait until the watch/listener worker has run everything queued so far."""
        done = threading.Event()
        client.handler.dispatch_callback(Callback("watch", done.set, ()))
        assert done.wait(timeout), "the callback worker did not drain"

    @staticmethod
    def flush_watches(client: KazooClient, timeout: float = WAIT) -> None:
        """Barrier: every watch event the server sent for a change that completed
        before this call has been delivered to its callback once this returns.

        A node created by ``client`` itself goes through the client's server
        after every earlier change, and its CREATED event is delivered after
        every earlier event, on the same worker.
        """
        marker = f"/flush-{uuid.uuid4().hex}"
        seen = threading.Event()
        client.exists(marker, watch=lambda event: seen.set())
        client.create(marker, ephemeral=True)
        assert seen.wait(timeout), "the watch barrier did not fire"
        client.delete(marker)

    # client-agnostic, shared with the asyncio tests
    sever = staticmethod(cluster_helpers.sever)
    member_of = staticmethod(cluster_helpers.member_of)
    follower = staticmethod(cluster_helpers.follower)
    mode = staticmethod(cluster_helpers.mode)


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers


@pytest.fixture
def make_client(zk_hosts: str) -> Iterator[Callable[..., KazooClient]]:
    """``make_client(hosts=None, start=True, **options)``: extra clients (default: the
    test's chroot, the handler KAZOO_TEST_HANDLER names), stopped and closed after the test
    whatever happens."""
    made: list[KazooClient] = []

    def make(hosts: str | None = None, start: bool = True, **options: Any) -> KazooClient:
        options.setdefault("timeout", 15.0)
        if "handler" not in options:
            options["handler"] = make_handler()
        client = KazooClient(hosts if hosts is not None else zk_hosts, **options)
        made.append(client)
        if start:
            client.start(timeout=WAIT)
        return client

    yield make
    for client in reversed(made):
        for step in (client.stop, client.close):
            try:
                step()
            except Exception:  # noqa: BLE001 - keep tearing the others down
                pass
