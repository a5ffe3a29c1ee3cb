"""A handler for eventlet: green threads, eventlet's green sockets and primitives.

:class:`SequentialEventletHandler` works with and without ``eventlet.monkey_patch()``: the
client and its I/O driver wait only through the handler's primitives (from
:mod:`eventlet.green`), so no call blocks the hub. Use it (and its client) from the thread
that runs the hub.

Its workers are two green threads, one for watch callbacks and state listeners, one for
completion (``rawlink``) callbacks; each runs its callbacks one at a time, in order. A
worker exists only while it has work (see :data:`kazoo.handlers._green.WORKER_IDLE_EXIT`).
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


#: The OS's best selector (epoll on Linux): it has a file descriptor of its own.
_OsSelector: Any = selectors.DefaultSelector
if not hasattr(_OsSelector, "fileno"):  # eventlet's monkey-patching put a green one there
    _OsSelector = eventlet.patcher.original("selectors").DefaultSelector


class _TrampolineSelector(_OsSelector):
    """An OS selector whose waits are green: ``select`` parks the calling green thread until
    the hub sees the selector's own file descriptor readable, then collects every ready
    file object with a non-blocking poll.

    The hub listener on that descriptor is kept from one wait to the next (the I/O driver
    waits on one selector for its whole life), so a wait costs no ``epoll_ctl`` and no
    trampoline; it is dropped when it fires while nobody waits (the descriptor stays
    readable until the owner looks, and a kept listener would fire on every hub turn
    meanwhile), and at :meth:`close`. Its timer is kept too while it is due no later than
    the wait needs (the driver's next deadline moves forward with every request): a timer
    that fires early only makes the wait look again and park once more.

    eventlet's green ``select`` is not used: it adds one hub listener per file descriptor,
    returns only the first that fires, and a second one firing in the same hub turn later
    switches into the green thread at an unrelated wait.
    """

    def __init__(self) -> None:
        super().__init__()
        self._hub: Any = None
        self._listener: Any = None
        self._timer: Any = None
        self._timer_due = 0.0
        #: The green thread parked in select(), only while it is parked.
        self._waiter: Any = None

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ready: list[tuple[Any, int]] = super().select(0)
            left = None if deadline is None else deadline - time.monotonic()
            if ready or (left is not None and left <= 0):
                return ready
            self._park(left)

    def _park(self, timeout: float | None) -> None:
        """Wait (green) until the selector's descriptor is readable or ``timeout`` passes."""
        hub = eventlet.hubs.get_hub()
        current = greenlet.getcurrent()
        if current is hub.greenlet:
            raise RuntimeError("do not call blocking functions from the mainloop")
        if self._listener is None or self._hub is not hub:
            self._drop_listener()
            self._listener = hub.add(
                hub.READ, self.fileno(), self._on_readable, self._on_obsolete, None
            )
            self._hub = hub
        if timeout is not None:
            due = time.monotonic() + timeout
            if self._timer is None or self._timer_due > due:
                self._cancel_timer()
                self._timer = hub.schedule_call_global(timeout, self._on_timer)
                self._timer_due = due
        self._waiter = current
        try:
            hub.switch()
        finally:
            self._waiter = None

    def _on_timer(self) -> None:
        # In the hub: end the wait of the parked green thread, if there is one (it looks
        # whether its own deadline has come).
        self._timer = None
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.switch()

    def _on_readable(self, fileno: int) -> None:
        # In the hub (listener): wake the parked green thread; with none parked, stop
        # listening until the next wait (level-triggered: it would fire every turn).
        waiter = self._waiter
        if waiter is None:
            self._drop_listener()
            return
        self._waiter = None
        waiter.switch()

    def _on_obsolete(self, *exc_info: Any) -> None:
        # The hub saw the descriptor number reused (it cannot be while the selector is
        # open, but a listener must have a throwback): forget the listener, fail the wait.
        self._listener = None
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.throw(*exc_info)

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            self._hub.remove(listener)
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        self._drop_listener()
        super().close()


def _new_selector() -> selectors.BaseSelector:
    if hasattr(_OsSelector, "fileno"):
        return _TrampolineSelector()
    return green_selectors.DefaultSelector()  # no such OS selector


class _HubCondition:
    """The condition variable a waiter on an :class:`AsyncResult` sleeps on.

    Setter and waiters are green threads of one hub (the handler's rule), so no lock is
    needed and ``with`` does nothing: a waiter parks in the hub, and :meth:`notify_all`
    schedules its wake-up (one hub timer per waiter, as :class:`eventlet.event.Event`
    does). A green ``threading.Condition`` costs a Condition, an RLock and a waiter lock
    per wait, and several more hub round trips through eventlet's semaphores.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[Any] = []

    def __enter__(self) -> _HubCondition:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait(self, timeout: float | None = None) -> None:
        """Park the current green thread until notified or ``timeout`` seconds pass (the
        caller looks at what it waits for again)."""
        hub = eventlet.hubs.get_hub()
        current = greenlet.getcurrent()
        if current is hub.greenlet:
            raise RuntimeError("do not call blocking functions from the mainloop")
        waiters = self._waiters
        waiters.append(current)
        timer = None if timeout is None else hub.schedule_call_global(timeout, self._wake, current)
        try:
            hub.switch()
        finally:
            if timer is not None:
                timer.cancel()
            if current in waiters:  # woken by something else (thrown into)
                waiters.remove(current)

    def notify_all(self) -> None:
        if self._waiters:
            schedule = eventlet.hubs.get_hub().schedule_call_global
            for waiter in self._waiters:
                schedule(0, self._wake, waiter)

    def _wake(self, waiter: Any) -> None:
        # In the hub. A waiter already woken (by the timeout, or the other of two wake-ups)
        # is no longer listed: it is not switched into at an unrelated wait.
        if waiter in self._waiters:
            self._waiters.remove(waiter)
            waiter.switch()


class AsyncResult(utils.AsyncResult[T]):
    """An :class:`~kazoo.interfaces.IAsyncResult` for green threads."""

    __slots__ = ()

    def __init__(self, handler: SequentialEventletHandler) -> None:
        # The base class's __init__, spelt out: one is made per request.
        self._handler = handler
        self._condition_factory = _HubCondition
        self._condition = None
        self._timeout_factory = TimeoutError
        self._ready = False
        self._callbacks = None
        self._waiters = None
        self.value = None
        self.exception = None


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
