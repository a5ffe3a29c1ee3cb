"""A handler for gevent: greenlets, gevent sockets, gevent primitives.

:class:`SequentialGeventHandler` works with and without ``gevent.monkey.patch_all()``: the
client and its I/O driver wait only through the handler's primitives, so no call blocks the
hub. Use it (and its client) from the thread that runs the hub.

Its workers are two greenlets, one for watch callbacks and state listeners, one for
completion (``rawlink``) callbacks; each runs its callbacks one at a time, in order. A
worker exists only while it has work (see :data:`kazoo.handlers._green.WORKER_IDLE_EXIT`).
"""

from __future__ import annotations

import functools
import logging
import selectors
from collections.abc import Callable, Generator
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.queue
import gevent.selectors
import gevent.socket
import gevent.thread
import greenlet
from gevent.hub import Waiter

from kazoo.handlers import utils
from kazoo.handlers._green import GreenHandler

__all__ = ["AsyncResult", "SequentialGeventHandler"]

log = logging.getLogger(__name__)

_ResultCallback = Callable[["AsyncResult"], Any]


def _hub_level(callback: Any) -> bool:
    """``True`` for gevent's own wait machinery (a greenlet's or a Waiter's ``switch``), which
    ``get()``, ``wait()`` and ``gevent.wait()`` link and which must run in the hub."""
    return isinstance(getattr(callback, "__self__", None), (greenlet.greenlet, Waiter))


class AsyncResult(gevent.event.AsyncResult):
    """A :class:`gevent.event.AsyncResult` that is also a kazoo
    :class:`~kazoo.interfaces.IAsyncResult`.

    Differences from the plain gevent class, all from the kazoo contract:

    * the first :meth:`set` / :meth:`set_exception` wins, later ones are ignored;
    * :meth:`get` raises the handler's ``timeout_exception`` (a ``gevent.Timeout``) when the
      result is not ready in time, and :meth:`wait` returns :meth:`ready`;
    * callbacks linked with :meth:`rawlink` run on the handler's completion worker (so they
      may block), not in the hub; gevent's own waiters still run in the hub;
    * ``await result`` works in a coroutine, also on a loop in another thread.
    """

    __slots__ = ("_callbacks", "_handler", "_waiters")

    def __init__(self, handler: SequentialGeventHandler) -> None:
        super().__init__()
        self._handler = handler
        #: Callbacks linked with rawlink (kept after they ran, so a second link is a no-op).
        self._callbacks: list[_ResultCallback] | None = None
        #: Zero-argument hooks run in the setter's thread (asyncio hand-over).
        self._waiters: list[Callable[[], Any]] | None = None

    def __repr__(self) -> str:
        if not self.ready():
            state = "pending"
        elif self.exception is not None:
            state = f"failed: {type(self.exception).__name__}"
        else:
            state = "done"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    __str__ = __repr__  # gevent's own str shows the value, which may be private

    # -- setting ---------------------------------------------------------------------------

    def set(self, value: Any = None) -> None:
        """Store ``value`` and wake waiters; ignored if the result is already set."""
        if self.ready():
            return
        super().set(value)
        self._fire()

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None:
        """Store ``exception`` (raised by :meth:`get`); ignored if already set."""
        if self.ready():
            return
        super().set_exception(exception, exc_info)
        self._fire()

    def _fire(self) -> None:
        # Ready first, hooks second: see kazoo.handlers.utils.await_result.
        waiters = self._waiters
        if waiters:
            for hook in waiters:
                hook()
        if self._callbacks:
            put = self._handler.completion_queue.put
            for callback in self._callbacks:
                put(functools.partial(callback, self))

    # -- waiting ---------------------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the value or raise the stored exception.

        Waits up to ``timeout`` seconds (``None``: for ever) when ``block``.

        :raises SequentialGeventHandler.timeout_exception: not ready in time (at once when
            ``block`` is false).
        """
        if not self.ready():
            if block:
                self.wait(timeout)
            if not self.ready():
                raise self._handler.timeout_exception("Timed out waiting for the result")
        return super().get(block=False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ready or ``timeout`` seconds have passed; return :meth:`ready`."""
        if not self.ready():
            super().wait(timeout)
        return bool(self.ready())

    # -- callbacks -------------------------------------------------------------------------

    def rawlink(self, callback: _ResultCallback) -> None:
        """Run ``callback(self)`` once when ready, on the handler's completion worker.

        Queued at once if already ready. Linking the same callback again is a no-op.
        """
        if _hub_level(callback):
            super().rawlink(callback)
            return
        if not callable(callback):
            raise TypeError(f"expected a callable, not {callback!r}")
        if self._callbacks is None:
            self._callbacks = []
        elif callback in self._callbacks:
            return
        self._callbacks.append(callback)
        if self.ready():
            self._handler.completion_queue.put(functools.partial(callback, self))

    def unlink(self, callback: _ResultCallback) -> None:
        """Remove ``callback`` if it is linked and has not run yet."""
        if self._callbacks and callback in self._callbacks:
            self._callbacks.remove(callback)
        else:
            super().unlink(callback)

    # -- asyncio ---------------------------------------------------------------------------

    def _add_waiter(self, hook: Callable[[], Any]) -> None:
        utils.add_waiter(self, hook)

    def __await__(self) -> Generator[Any, None, Any]:
        """``await result`` from a coroutine, without blocking the event loop.

        The outcome is handed to the awaiting loop with ``loop.call_soon_threadsafe`` from
        the greenlet that sets it. Cancelling the awaiting task does not affect the result.
        """
        return (yield from utils.await_result(self))


class SequentialGeventHandler(GreenHandler):
    """gevent: primitives from :mod:`gevent`, sockets from :mod:`gevent.socket`."""

    name = "sequential_gevent_handler"
    sleep_func = staticmethod(gevent.sleep)
    queue_impl = gevent.queue.Queue
    queue_empty = gevent.queue.Empty
    _socket_module = gevent.socket
    _log = log

    class timeout_exception(gevent.Timeout):  # noqa: N801 - API name
        """A wait on the gevent handler timed out (raised, never started as a timer)."""

        def __init__(self, message: str = "Timed out") -> None:
            super().__init__(None, None)  # no seconds: a plain exception, no hub timer
            self.args = (message,)

        def __str__(self) -> str:
            return str(self.args[0]) if self.args else ""

        def __repr__(self) -> str:
            return f"{type(self).__qualname__}({str(self)!r})"

    # -- flavour hooks -------------------------------------------------------------------------

    def _new_queue(self) -> gevent.queue.Queue:
        return gevent.queue.Queue()

    def _join(self, worker: Any, timeout: float) -> None:
        worker.join(timeout)

    # -- primitives ----------------------------------------------------------------------------

    def event_object(self) -> gevent.event.Event:
        """A new :class:`gevent.event.Event`."""
        return gevent.event.Event()

    def lock_object(self) -> Any:
        """A new gevent lock (``threading.Lock`` semantics)."""
        return gevent.thread.allocate_lock()

    def rlock_object(self) -> gevent.lock.RLock:
        """A new :class:`gevent.lock.RLock` (owned by a greenlet)."""
        return gevent.lock.RLock()

    def async_result(self) -> AsyncResult:
        """A new, unset :class:`AsyncResult` bound to this handler."""
        return AsyncResult(self)

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Run ``func(*args, **kwargs)`` in a new greenlet; return the started greenlet."""
        return gevent.spawn(func, *args, **kwargs)

    def new_selector(self) -> selectors.BaseSelector:
        """Internal: a new :class:`gevent.selectors.GeventSelector` for the I/O driver."""
        return gevent.selectors.GeventSelector()
