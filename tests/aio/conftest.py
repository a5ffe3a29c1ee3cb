"""Running ``async def`` tests without a plugin, and helpers for the asyncio client tests.

Every coroutine test runs in its own ``asyncio.run`` with a bound on the whole test. When
it has finished (passed or failed), the clients it made through the ``aio_clients``
fixture are stopped and closed on the same loop, and then the test fails if any other
task is still pending or the loop reported an error (an exception nobody retrieved, a
callback that raised).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections.abc import Awaitable
from typing import Any, Callable

import pytest

from kazoo.aio import AsyncKazooClient
from kazoo.testing import drop_connection, expire_session

#: Bound on one coroutine test, set-up and clean-up included.
TEST_BOUND = 100.0
#: Upper bound of every wait on a server round trip or an event.
WAIT = 15.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    cleanups = [v for v in pyfuncitem.funcargs.values() if hasattr(v, "aio_cleanup")]
    asyncio.run(_guarded(pyfuncitem.obj(**kwargs), cleanups))
    return True


async def _guarded(test: Awaitable[Any], cleanups: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    errors: list[str] = []

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(str(context.get("message")) + ": " + repr(context.get("exception")))

    loop.set_exception_handler(on_error)
    try:
        await asyncio.wait_for(test, TEST_BOUND)
    finally:
        for cleanup in cleanups:
            await asyncio.wait_for(cleanup.aio_cleanup(), 60.0)
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5.0)
    assert not pending, f"tasks left pending: {pending}"
    assert not errors, f"the event loop reported errors: {errors}"


class AEventLog:
    """A watch callback / state listener for the loop: records items, awaitable waits."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed: asyncio.Event | None = None

    def __call__(self, item: Any) -> None:
        self.items.append(item)
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.items):
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return predicate(self.items)
        return True

    async def wait_count(self, count: int = 1, timeout: float = WAIT) -> bool:
        return await self.wait_for(lambda items: len(items) >= count, timeout)

    async def wait_item(self, item: Any, timeout: float = WAIT) -> bool:
        return await self.wait_for(lambda items: item in items, timeout)


async def drain(client: AsyncKazooClient) -> None:
    """Barrier: every callback queued so far (watches, listeners) has run."""
    done = asyncio.get_running_loop().create_future()
    client._callbacks.put(done.set_result, None)
    await asyncio.wait_for(done, WAIT)


async def flush_watches(client: AsyncKazooClient) -> None:
    """Barrier: every watch event for a change completed before this call has been
    delivered to its callback (the marker's event comes after them, in order)."""
    marker = f"/flush-{uuid.uuid4().hex}"
    seen = asyncio.Event()
    await client.exists(marker, watch=lambda event: seen.set())
    await client.create(marker, ephemeral=True)
    await asyncio.wait_for(seen.wait(), WAIT)
    await client.delete(marker)


async def expire(client: AsyncKazooClient) -> None:
    """A real server-side expiry (kazoo.testing), waited for in a helper thread."""
    await asyncio.to_thread(expire_session, client, 20.0, threading.Event)


async def drop(client: AsyncKazooClient) -> None:
    """A real dropped connection (kazoo.testing), waited for in a helper thread."""
    await asyncio.to_thread(drop_connection, client, 20.0, threading.Event)


class Clients:
    """Makes AsyncKazooClients (default: the test's chroot); all are stopped and closed
    after the test, on the test's loop."""

    def __init__(self, hosts: str) -> None:
        self.hosts = hosts
        self.made: list[AsyncKazooClient] = []

    async def __call__(
        self, hosts: str | None = None, start: bool = True, **options: Any
    ) -> AsyncKazooClient:
        options.setdefault("timeout", 15.0)
        client = AsyncKazooClient(hosts if hosts is not None else self.hosts, **options)
        self.made.append(client)
        if start:
            await client.start(timeout=WAIT)
        return client

    async def aio_cleanup(self) -> None:
        for client in reversed(self.made):
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - keep tearing the others down
                pass


@pytest.fixture
def aio_clients(zk_hosts: str) -> Clients:
    return Clients(zk_hosts)
