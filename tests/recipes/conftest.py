"""Fixtures for the recipe tests, on a real ZooKeeper.

* ``make_client(**options)``: extra started blocking clients in the test's chroot
  (stopped and closed after the test).
* ``aio(body, timeout=60)``: runs ``await body(azk)`` in a fresh event loop with an
  asyncio client on the test's chroot, then checks that no task was left pending.
  ``azk`` is a started :class:`kazoo.aio.AsyncKazooClient`.
* ``faults`` (cutting a client off one follower, severing, expiring a session through other
  members), ``cluster_guard``, ``chroot`` and ``recorder`` (a recording callable): for the
  watcher and cache tests. Plain helpers (``Background``, ``Recorder``, ``StateLog``, child
  waits, a pausable proxy) are in :mod:`tests.recipes.helpers`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Any, Callable

import pytest

from kazoo.aio import AsyncKazooClient
from kazoo.client import KazooClient
from tests import cluster_helpers
from tests.recipes.helpers import WAIT, Recorder


@pytest.fixture
def make_client(zk_hosts: str) -> Iterator[Callable[..., KazooClient]]:
    made: list[KazooClient] = []

    def make(hosts: str | None = None, start: bool = True, **options: Any) -> KazooClient:
        options.setdefault("timeout", 15.0)
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


@pytest.fixture
def aio(zk_hosts: str) -> Callable[..., Any]:
    """``aio(body, timeout=60)`` → the result of ``await body(azk)`` (see module doc)."""

    def run(body: Callable[[Any], Awaitable[Any]], timeout: float = 60.0) -> Any:
        async def main() -> Any:
            async with AsyncKazooClient(zk_hosts, timeout=15.0) as azk:
                result = await asyncio.wait_for(body(azk), timeout)
            await asyncio.sleep(0)
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not left, f"tasks left pending: {left}"
            return result

        return asyncio.run(main())

    return run


@pytest.fixture
def wait() -> float:
    return WAIT


__all__ = ["WAIT"]


# --------------------------------------------------------------------------- real faults
# (added for the watcher and cache tests; self-contained)


class Faults:
    """Cutting a client off from the ensemble, as in tests/integration/conftest.py."""

    mode = staticmethod(cluster_helpers.mode)
    follower = staticmethod(cluster_helpers.follower)
    sever = staticmethod(cluster_helpers.sever)

    @classmethod
    def cut_off(
        cls, cluster: Any, chroot: str, make: Callable[..., KazooClient]
    ) -> tuple[KazooClient, KazooClient, Any, str]:
        """``(client, other, member, rest)``: a client that can reach one follower only
        (reconnecting fast), a client on the other members, the follower, their hosts."""
        member, rest = cls.follower(cluster)
        client = make(
            f"{member.host}:{member.client_port}{chroot}",
            connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
        )
        return client, make(rest + chroot), member, rest

    @classmethod
    @contextlib.contextmanager
    def away(
        cls, client: KazooClient, member: Any, suspended: Callable[[], bool]
    ) -> Iterator[None]:
        """Cut ``client`` off: pause ``member`` (the only server it can reach) and sever its
        connection; the body runs once ``suspended()`` (a bounded wait) holds, and the member
        is resumed afterwards."""
        member.pause()
        try:
            cls.sever(client)
            assert suspended(), "the client did not see the connection drop"
            yield
        finally:
            member.resume()

    @staticmethod
    def expire_via(client_id: tuple[int, bytes], hosts: str) -> None:
        """End a session on the server through ``hosts`` (the client need not be reachable)."""
        from kazoo.testing._faults import _close_session_on_server

        addresses = [(h, int(p)) for h, p in (item.split(":") for item in hosts.split(","))]
        assert _close_session_on_server(addresses, client_id[0], client_id[1], WAIT)


@pytest.fixture
def faults() -> type[Faults]:
    return Faults


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder
