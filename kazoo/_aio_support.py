"""Pieces of :mod:`kazoo.aio`: the callback runner and the awaitable transaction."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from kazoo._transaction import TransactionRequest

if TYPE_CHECKING:
    from types import TracebackType


class CallbackRunner:
    """Runs watch callbacks and listeners on the loop, one at a time, in order.

    A callback may be a plain function or return an awaitable (a coroutine function),
    which is awaited before the next one starts: a slow callback delays the later ones,
    never the I/O. At most one task does the work; it ends when nothing is queued and
    is started again by the next :meth:`put`, so an idle client owns no task.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._killed = False

    def put(self, func: Callable[..., Any], *args: Any) -> None:
        self._queue.append((func, args))
        task = self._task
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:  # none, or stranded
            self._killed = False
            self._task = loop.create_task(self._run())

    @property
    def running_here(self) -> bool:
        """True when called from inside one of the callbacks."""
        task = self._task
        return task is not None and task is asyncio.current_task()

    async def _run(self) -> None:
        queue = self._queue
        try:
            while queue:
                func, args = queue.popleft()
                try:
                    result = func(*args)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    if self._killed:
                        raise
                    self._logger.warning("a callback was cancelled: %s", _name(func))
                except Exception:
                    self._logger.exception("a callback raised: %s", _name(func))
                func = args = None  # type: ignore[assignment]
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def drain(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until everything queued has run; when it has not,
        cancel the callback in progress and drop the rest. True if all ran."""
        task = self._task
        if task is None or task is asyncio.current_task():
            return True
        if task.get_loop() is not asyncio.get_running_loop():  # stranded on a dead loop
            self._task = None
            return not self._queue
        await asyncio.wait({task}, timeout=timeout)
        if task.done():
            return True
        self._killed = True
        self._queue.clear()
        task.cancel()
        await asyncio.wait({task})
        return False


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or type(func).__name__


async def call_maybe_async(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``, awaited when it returns an awaitable."""
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class AsyncTransactionRequest(TransactionRequest):
    """A :class:`~kazoo.client.TransactionRequest` of an ``AsyncKazooClient``:
    the same builder methods, ``await commit()`` and ``async with``."""

    async def commit(self) -> list[Any]:  # type: ignore[override]
        """Send the operations as one multi; the result list (API.md §2.1.7)."""
        return await self.commit_async()

    def __enter__(self) -> TransactionRequest:
        raise TypeError("use 'async with' for a transaction of AsyncKazooClient")

    async def __aenter__(self) -> AsyncTransactionRequest:
        return self

    async def __aexit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.commit()
