"""Fixtures for the recipe tests, on a real ZooKeeper.

* ``make_client(**options)``: extra started blocking clients in the test's chroot
  (stopped and closed after the test).
* ``aio(body, timeout=60)``: runs ``await body(azk)`` in a fresh event loop with an
  asyncio client on the test's chroot, then checks that no task was left pending.
  ``azk`` is a :class:`kazoo.aio.AsyncKazooClient` when that module exists, else
  :class:`AwaitFacade` (coroutine methods over a blocking client's awaitable results,
  watch callbacks and listeners handed to the loop), so the async flavour of every
  recipe runs from day one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

WAIT = 15.0


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


__all__ = ["AwaitFacade", "WAIT", "threading"]
