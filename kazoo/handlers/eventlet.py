"""A handler for eventlet: green threads, eventlet's green sockets and primitives.

:class:`SequentialEventletHandler` works with and without ``eventlet.monkey_patch()``: the
client and its I/O driver wait only through the handler's primitives (from
:mod:`eventlet.green`), so no call blocks the hub. Use it (and its client) from the thread
that runs the hub.

Its workers are two green threads, one for watch callbacks and state listeners, one for
completion (``rawlink``) callbacks; each runs its callbacks one at a time, in order.
"""

from __future__ import annotations

import logging
import selectors
import time
from collections.abc import Callable
from typing import Any, TypeVar

import eventlet
import eventlet.hubs
import eventlet.patcher
import eventlet.queue
import greenlet
from eventlet.green import selectors as green_selectors
from eventlet.green import socket as green_socket
from eventlet.green import threading as green_threading

from kazoo.handlers import utils
from kazoo.handlers._green import GreenHandler

__all__ = ["AsyncResult", "SequentialEventletHandler", "TimeoutError"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class TimeoutError(Exception):  # noqa: A001 - the name is part of the API
    """A wait on the eventlet handler timed out."""


class _Elapsed(Exception):
    """Thrown into a selector's greenlet when its wait is over."""


#: The OS's best selector (epoll on Linux): it has a file descriptor of its own.
_OsSelector: Any = selectors.DefaultSelector
if not hasattr(_OsSelector, "fileno"):  # eventlet's monkey-patching put a green one there
    _OsSelector = eventlet.patcher.original("selectors").DefaultSelector


class _TrampolineSelector(_OsSelector):
    """An OS selector whose waits are green: ``select`` parks the calling green thread on
    the selector's own file descriptor (``eventlet.hubs.trampoline``), then collects every
    ready file object with a non-blocking poll.

    eventlet's green ``select`` is not used: it adds one hub listener per file descriptor,
    returns only the first that fires, and a second one firing in the same hub turn later
    switches into the green thread at an unrelated wait.
    """

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ready: list[tuple[Any, int]] = super().select(0)
            left = None if deadline is None else deadline - time.monotonic()
            if ready or (left is not None and left <= 0):
                return ready
            try:
                eventlet.hubs.trampoline(
                    self.fileno(), read=True, timeout=left, timeout_exc=_Elapsed()
                )
            except _Elapsed:
                return []


def _new_selector() -> selectors.BaseSelector:
    if hasattr(_OsSelector, "fileno"):
        return _TrampolineSelector()
    return green_selectors.DefaultSelector()  # no such OS selector


class AsyncResult(utils.AsyncResult[T]):
    """An :class:`~kazoo.interfaces.IAsyncResult` for green threads."""

    __slots__ = ()

    def __init__(self, handler: SequentialEventletHandler) -> None:
        super().__init__(handler, green_threading.Condition, TimeoutError)


class SequentialEventletHandler(GreenHandler):
    """eventlet: primitives from :mod:`eventlet.green.threading`, sockets from
    :mod:`eventlet.green.socket`."""

    name = "sequential_eventlet_handler"
    timeout_exception = TimeoutError
    sleep_func = staticmethod(eventlet.sleep)
    queue_impl = eventlet.queue.Queue
    queue_empty = eventlet.queue.Empty
    _socket_module = green_socket
    _log = log

    # -- flavour hooks -------------------------------------------------------------------------

    def _new_queue(self) -> eventlet.queue.LightQueue:
        return eventlet.queue.LightQueue()

    def _join(self, worker: Any, timeout: float) -> None:
        with eventlet.Timeout(timeout, False):
            try:
                worker.wait()
            except greenlet.GreenletExit:  # someone killed it: it has ended all the same
                pass

    # -- primitives ----------------------------------------------------------------------------

    def event_object(self) -> Any:
        """A new green ``threading.Event``."""
        return green_threading.Event()

    def lock_object(self) -> Any:
        """A new green ``threading.Lock``."""
        return green_threading.Lock()

    def rlock_object(self) -> Any:
        """A new green ``threading.RLock`` (owned by a green thread)."""
        return green_threading.RLock()

    def async_result(self) -> AsyncResult[Any]:
        """A new, unset :class:`AsyncResult` bound to this handler."""
        return AsyncResult(self)

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` in a new green thread; return its ``GreenThread``."""
        return eventlet.spawn(func, *args, **kwargs)

    def new_selector(self) -> selectors.BaseSelector:
        """Internal: a new green selector (an OS selector waited on through the hub), for
        the I/O driver."""
        return _new_selector()
