"""Async iterators over watches for :mod:`kazoo.aio` (API.md §3.5).

Each iterator registers one private watcher, a :class:`Sink`, that the I/O owner calls
directly (not through the callback runner): it only records the event and wakes the
consumer. Reads are made by the consumer's ``__anext__``, so a slow consumer coalesces
changes and gets the latest state.

The sink holds no reference to its iterator. When the iterator is closed (``aclose()``)
or dropped (``break`` out of ``async for``, then garbage collected), its registrations
are discarded and, for the last local watcher of that type on the path, the server-side
watch is removed.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionLoss,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent, ZnodeStat
from kazoo.protocol.watches import WatchKind

if TYPE_CHECKING:
    from kazoo.aio import AsyncKazooClient

#: Events a ``watch_events`` iterator keeps for a slow consumer.
EVENT_BUFFER = 10_000
_ENDING_STATES = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)
_RETRYABLE = (ConnectionLoss, SessionExpiredError)
_FINISHED = (ConnectionClosedError, AuthFailedError)
T = TypeVar("T")
_I = TypeVar("_I", bound="WatchIterator")


class Sink:
    """The watcher of one iterator: keeps events and wakes the reader.

    ``limit`` 0 keeps only the latest event; otherwise at most ``limit`` events are kept
    and an overflow replaces them with ``overflow()`` (the "re-read" stand-in).
    ``on_event`` (optional) sees every event first. Neither refers to the iterator.
    """

    __slots__ = ("__weakref__", "events", "limit", "overflow", "on_event", "ended", "_waiter")

    def __init__(self, limit: int = 0) -> None:
        self.events: deque[WatchedEvent] = deque()
        self.limit = limit
        self.overflow: Callable[[], WatchedEvent] | None = None
        self.on_event: Callable[[WatchedEvent], Any] | None = None
        self.ended = False
        self._waiter: asyncio.Future[None] | None = None

    def __call__(self, event: WatchedEvent) -> None:
        if self.ended:
            return
        if self.on_event is not None:
            self.on_event(event)
        events = self.events
        if not self.limit:
            events.clear()
        elif len(events) >= self.limit:
            events.clear()
            if self.overflow is not None:
                events.append(self.overflow())
        events.append(event)
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None


def _release(client: AsyncKazooClient, sink: Sink, path: str, kinds: tuple[Any, ...]) -> None:
    """Finalizer of a dropped iterator (any thread): release its watcher on the loop."""
    sink.ended = True
    loop = client._loop
    if loop is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(client._release_watcher, sink, path, kinds)
    except RuntimeError:  # the loop closed meanwhile
        pass


class WatchIterator:
    """Base of the three iterators: lifetime, closing and the wait for news."""

    _kinds: tuple[WatchKind, ...] = ()

    def __init__(self, client: AsyncKazooClient, path: str, sink: Sink) -> None:
        self._client = client
        self._path = path
        self._server_path = client._ops.paths.server(path)  # validates the path now
        self._sink = sink
        self._first = True
        self._finalizer = weakref.finalize(
            self, _release, client, sink, self._server_path, self._kinds
        )

    def __aiter__(self: _I) -> _I:
        return self

    def __repr__(self) -> str:
        state = "closed" if self._sink.ended else "open"
        return f"<{type(self).__name__} {self._path!r} {state}>"

    async def aclose(self) -> None:
        """Stop: the watcher is removed (and the server's watch, if it was the last)."""
        self._close()

    def _close(self) -> None:
        sink = self._sink
        sink.ended = True
        sink.wake()
        if self._finalizer.detach() is not None:
            self._client._release_watcher(sink, self._server_path, self._kinds)

    def _stop(self) -> StopAsyncIteration:
        """End the iteration (the client stopped or the node went)."""
        self._close()
        return StopAsyncIteration()

    async def _news(self) -> WatchedEvent | None:
        """Wait until the watch fired (at once for the first read); the latest event."""
        sink = self._sink
        while not self._first and not sink.events:
            if sink.ended:
                raise self._stop()
            await sink.wait()
        event = sink.events[-1] if sink.events else None
        sink.events.clear()
        if sink.ended or (
            event is not None and event.type is EventType.NONE and event.state in _ENDING_STATES
        ):
            raise self._stop()
        return event

    async def _retrying(self, read: Callable[[], Awaitable[T]]) -> T:
        """Run a read until it does not fail for connection trouble. The client stopping
        ends the iteration (the first read raises it instead)."""
        while True:
            try:
                return await read()
            except _FINISHED:
                if self._first:
                    self._close()
                    raise
                raise self._stop() from None
            except _RETRYABLE:
                if self._sink.ended:
                    raise self._stop() from None


class DataWatchIterator(WatchIterator):
    """``watch_data(path)``: ``(data, stat, event)`` per change of the node's ``mzxid``."""

    _kinds = (WatchKind.DATA, WatchKind.EXIST)

    def __init__(self, client: AsyncKazooClient, path: str) -> None:
        super().__init__(client, path, Sink())
        self._stat: ZnodeStat | None = None

    async def __anext__(self) -> tuple[bytes | None, ZnodeStat | None, WatchedEvent | None]:
        while True:
            event = await self._news()
            data, stat = await self._retrying(self._read)
            old, first, self._first = self._stat, self._first, False
            if first or _changed(old, stat):
                self._stat = stat
                return data, stat, event

    async def _read(self) -> tuple[bytes | None, ZnodeStat | None]:
        client, path, sink = self._client, self._path, self._sink
        while True:
            try:
                return await client.get(path, watch=sink)
            except NoNodeError:
                pass
            if await client.exists(path, watch=sink) is None:
                return None, None


def _changed(old: ZnodeStat | None, new: ZnodeStat | None) -> bool:
    if old is None or new is None:
        return old is not new
    return old.mzxid != new.mzxid


class ChildrenWatchIterator(WatchIterator):
    """``watch_children(path)``: ``(children, event)`` per change of the child list; ends
    when the node does not exist or is deleted."""

    _kinds = (WatchKind.CHILD,)

    def __init__(self, client: AsyncKazooClient, path: str) -> None:
        super().__init__(client, path, Sink())
        self._children: set[str] = set()

    async def __anext__(self) -> tuple[list[str], WatchedEvent | None]:
        while True:
            event = await self._news()
            if event is not None and event.type is EventType.DELETED:
                raise self._stop()
            try:
                children = await self._retrying(self._read)
            except NoNodeError:
                raise self._stop() from None
            first, self._first = self._first, False
            seen, self._children = self._children, set(children)
            if (
                first
                or seen != self._children
                or (event is not None and event.type is EventType.CHILD)
            ):
                return children, event

    async def _read(self) -> list[str]:
        children: list[str] = await self._client.get_children(self._path, watch=self._sink)
        return children


class EventsIterator(WatchIterator):
    """``watch_events(path, mode)``: the events of a persistent watch, buffered.

    The watch is added when the iterator is made (so it sees every change made after
    that); a LOST drops it on the server and it is added again at once.
    """

    def __init__(self, client: AsyncKazooClient, path: str, mode: int) -> None:
        op = client._ops.add_watch(path, _noop, mode)  # validates mode and path first
        kind = op.watch[1] if op.watch is not None else None
        assert kind is not None
        self._kinds = (kind,)
        sink = Sink(EVENT_BUFFER)
        sink.overflow = functools.partial(_overflow_event, client, path)
        super().__init__(client, path, sink)
        add = functools.partial(_add_watch, client, path, sink, mode)
        sink.on_event = functools.partial(_rearm_after_lost, client, add)
        self._added: asyncio.Future[Any] | None = add()

    async def __anext__(self) -> WatchedEvent:
        added = self._added
        if added is not None:
            try:
                await asyncio.shield(added)  # a cancelled consumer may come back for it
            except asyncio.CancelledError:
                raise
            except BaseException:
                self._close()
                raise
            finally:
                if added.done():
                    self._added = None
        sink = self._sink
        while not sink.events or sink.ended:
            if sink.ended:
                raise self._stop()
            await sink.wait()
        event = sink.events.popleft()
        if event.type is EventType.NONE and event.state in _ENDING_STATES:
            raise self._stop()
        return event


def _add_watch(client: AsyncKazooClient, path: str, sink: Sink, mode: int) -> asyncio.Future[Any]:
    added: asyncio.Future[Any] = client._submit_op(client._ops.add_watch(path, sink, mode))
    added.add_done_callback(_consume)
    return added


def _rearm_after_lost(
    client: AsyncKazooClient, add: Callable[[], Any], event: WatchedEvent
) -> None:
    if event.type is EventType.NONE and event.state is KeeperState.EXPIRED_SESSION:
        loop = client._loop
        if loop is not None:
            loop.call_soon(add)  # after the I/O owner's delivery, queued for the new session


def _overflow_event(client: AsyncKazooClient, path: str) -> WatchedEvent:
    return WatchedEvent(EventType.NONE, client.client_state, path)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: an iterator nobody reads logs nothing


def _noop(event: WatchedEvent) -> None:
    """A placeholder watcher (only for argument checking)."""
