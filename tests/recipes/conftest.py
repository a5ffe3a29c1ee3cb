"""Fixtures for the recipe tests, on a real ZooKeeper.

* ``make_client(**options)``: extra started blocking clients in the test's chroot
  (stopped and closed after the test).
* ``aio(body, timeout=60)``: runs ``await body(azk)`` in a fresh event loop with an
  asyncio client on the test's chroot, then checks that no task was left pending.
  ``azk`` is a :class:`kazoo.aio.AsyncKazooClient` when that module exists, else
  :class:`AwaitFacade` (coroutine methods over a blocking client's awaitable results,
  watch callbacks and listeners handed to the loop), so the async flavour of every
  recipe runs from day one.
* ``faults`` (cutting a client off one follower, severing, expiring a session through other
  members), ``cluster_guard``, ``chroot`` and ``recorder`` (a recording callable): for the
  watcher and cache tests. Plain helpers (``Background``, ``Recorder``, ``StateLog``, child
  waits, a pausable proxy) are in :mod:`tests.recipes.helpers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Iterator
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
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


class _FacadeTransaction:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def commit(self) -> list[Any]:
        return await self._inner.commit_async()  # type: ignore[no-any-return]


class AwaitFacade:
    """Stand-in for ``AsyncKazooClient`` until ``kazoo.aio`` exists (test use only)."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._listeners: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Any:  # properties and plain methods
        return getattr(self._client, name)

    def _on_loop(self, func: Callable[..., Any]) -> Callable[..., None]:
        loop = self._loop

        def call(*args: Any) -> None:
            def run() -> None:
                result = func(*args)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)

            try:
                loop.call_soon_threadsafe(run)
            except RuntimeError:  # loop closed
                pass

        return call

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("watch") is not None:
            kwargs["watch"] = self._on_loop(kwargs["watch"])
        return await getattr(self._client, name + "_async")(*args, **kwargs)

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("create", *args, **kwargs)

    async def ensure_path(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("ensure_path", *args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("get", *args, **kwargs)

    async def get_children(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("get_children", *args, **kwargs)

    async def exists(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("exists", *args, **kwargs)

    async def set(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("set", *args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("delete", *args, **kwargs)

    async def sync(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("sync", *args, **kwargs)

    async def add_watch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("add_watch", *args, **kwargs)

    async def retry(self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        policy = KazooRetry(max_tries=20, delay=0.05, max_delay=1.0)
        policy._begin()
        while True:
            try:
                return await func(*args, **kwargs)
            except policy.retry_exceptions as exc:
                await asyncio.sleep(policy._next_sleep(exc))

    def transaction(self) -> _FacadeTransaction:
        return _FacadeTransaction(self._client.transaction())

    def add_listener(self, listener: Callable[..., Any]) -> None:
        wrapped = self._listeners.setdefault(listener, self._on_loop(listener))
        self._client.add_listener(wrapped)

    def remove_listener(self, listener: Callable[..., Any]) -> None:
        wrapped = self._listeners.pop(listener, None)
        if wrapped is not None:
            self._client.remove_listener(wrapped)


@pytest.fixture
def aio(zk_hosts: str) -> Callable[..., Any]:
    """``aio(body, timeout=60)`` → the result of ``await body(azk)`` (see module doc)."""

    def run(body: Callable[[Any], Awaitable[Any]], timeout: float = 60.0) -> Any:
        async def main() -> Any:
            try:
                from kazoo.aio import AsyncKazooClient  # type: ignore[import-not-found]
            except ImportError:
                AsyncKazooClient = None  # noqa: N806
            if AsyncKazooClient is not None:
                async with AsyncKazooClient(zk_hosts, timeout=15.0) as azk:
                    result = await asyncio.wait_for(body(azk), timeout)
            else:
                client = KazooClient(zk_hosts, timeout=15.0)
                await asyncio.get_running_loop().run_in_executor(None, client.start, WAIT)
                try:
                    result = await asyncio.wait_for(body(AwaitFacade(client)), timeout)
                finally:
                    client.stop()
                    client.close()
            await asyncio.sleep(0)
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not left, f"tasks left pending: {left}"
            return result

        return asyncio.run(main())

    return run


@pytest.fixture
def wait() -> float:
    return WAIT


__all__ = ["AwaitFacade", "WAIT"]


# --------------------------------------------------------------------------- real faults
# (added for the watcher and cache tests; self-contained)


class Faults:
    """Cutting a client off from the ensemble, as in tests/integration/conftest.py."""

    @staticmethod
    def mode(member: Any, timeout: float = 5.0) -> str:
        """``leader``, ``follower`` or ``standalone`` from the member's ``srvr`` reply."""
        with socket.create_connection(member.address, timeout=timeout) as sock:
            sock.sendall(b"srvr")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        for line in reply.decode("utf-8", "replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    @classmethod
    def follower(cls, cluster: Any) -> tuple[Any, str]:
        """A follower, and a host string naming every other member."""
        for member in cluster:
            if cls.mode(member) == "follower":
                rest = ",".join(f"{m.host}:{m.client_port}" for m in cluster if m is not member)
                return member, rest
        raise AssertionError("the ensemble has no follower")

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

    @staticmethod
    def sever(client: KazooClient) -> None:
        """Shut the client's live TCP connection down from outside (no waiting)."""
        sock = client._connection._socket  # type: ignore[union-attr]
        assert sock is not None, "the client has no live connection"
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

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
def chroot(zk_hosts: str) -> str:
    """The chroot of this test's ``zk_hosts``."""
    return zk_hosts[zk_hosts.index("/") :]


@pytest.fixture
def cluster_guard(zookeeper_cluster: Any) -> Iterator[Any]:
    """The cluster; every member a test paused or stopped is brought back afterwards."""
    yield zookeeper_cluster
    for member in zookeeper_cluster:
        if member.paused:
            member.resume()
    for member in zookeeper_cluster:
        if not member.running:
            member.run()
    for member in zookeeper_cluster:
        member.wait_serving(60.0)


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder
