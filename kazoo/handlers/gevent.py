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
import time
from collections.abc import Callable, Generator
from typing import Any

import gevent
import gevent.event
import gevent.exceptions
import gevent.lock
import gevent.monkey
import gevent.queue
import gevent.selectors
import gevent.socket
import gevent.thread
import greenlet
from gevent.hub import Waiter, get_hub

from kazoo.handlers import utils
from kazoo.handlers._green import GreenHandler

__all__ = ["AsyncResult", "SequentialGeventHandler"]

log = logging.getLogger(__name__)

_ResultCallback = Callable[["AsyncResult"], Any]

#: The OS's best selector (epoll on Linux), also when monkey-patching put gevent's there.
_OsSelector: Any = gevent.monkey.get_original("selectors", "DefaultSelector")
#: The OS thread's id (monkey-patching makes ``threading.get_ident`` a greenlet's).
_os_thread_ident: Callable[[], int] = gevent.monkey.get_original("_thread", "get_ident")


class _Seat:
    """A greenlet's place in a :class:`_HubSelector`: the greenlet while it is parked there,
    as ``(hub, greenlet)``, and the timer kept for its waits."""

    __slots__ = ("due", "timer", "waiter")

    def __init__(self) -> None:
        self.waiter: tuple[Any, Any] | None = None
        self.timer: Any = None
        self.due = 0.0  # time.monotonic() at which ``timer`` fires


class _HubSelector(_OsSelector):
    """An OS selector whose waits are green: ``select`` parks the calling greenlet until
    the hub sees the selector's own file descriptor readable (or a timer fires), then
    collects every ready file object with a non-blocking poll.

    The I/O driver waits on one selector for its whole life, so what a wait needs from the
    hub is kept from one wait to the next: one io watcher on the selector's descriptor
    (started once; no ``epoll_ctl`` per request) and one timer per seat, kept while it is
    due no later than the wait needs (the driver's next deadline moves forward with every
    request: a timer that fires early only makes the wait look again and park once more).
    A wait costs no :class:`gevent.Timeout`, no per-file watcher and no event object, as
    :class:`gevent.selectors.GeventSelector`'s does.

    The watcher is stopped when it fires while nobody waits (the descriptor stays readable
    until a waiter looks: a level-triggered watcher kept meanwhile would fire on every hub
    turn), and at :meth:`close`. The set of registered files lives in the kernel, so what
    one greenlet registers or unregisters holds at once for the one parked here.

    Two greenlets may wait at a time: the owner in :meth:`select` (the driver) and a guest
    in :meth:`guest_select` (a caller reading the connection for the driver, see
    ``Driver.serve_waiter``). Readiness wakes the guest while there is one; the owner then
    sleeps on, woken only by its own timer. The watchers belong to the hub of the first
    wait; a wait in another hub (another thread's, or a new hub of this thread) makes new
    ones, and the old ones are stopped in their own thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self._hub: Any = None
        self._hub_thread = 0  # the OS thread of ``_hub``
        self._watcher: Any = None
        self._owner = _Seat()
        self._guest = _Seat()

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if not ready:
            return self._wait(self._owner, timeout)
        if timeout is None or timeout > 0:
            # A wait that need not park still lets the greenlets run first that the owner
            # has woken since its last wait (callers whose results it set): their next
            # requests then go out in this turn, while the server works on the replies
            # still due, not after everything that is ready has been read.
            gevent.sleep(0)
            ready = super().select(0) or ready
        return ready

    def guest_select(self, timeout: float) -> list[tuple[Any, int]]:
        """``select`` for the guest: a greenlet other than the owner, which may be parked in
        :meth:`select` meanwhile (and is not woken by what the guest sees)."""
        ready: list[tuple[Any, int]] = super().select(0)
        return ready or self._wait(self._guest, timeout)

    def _wait(self, seat: _Seat, timeout: float | None) -> list[tuple[Any, int]]:
        """Park in ``seat`` until something is ready or ``timeout`` has passed (nothing was
        ready at the caller's last look)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                self._park(seat, None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._park(seat, left)
            ready: list[tuple[Any, int]] = super().select(0)
            if ready:
                return ready

    def _park(self, seat: _Seat, timeout: float | None) -> None:
        """Wait (green) in ``seat`` until the descriptor is readable or ``timeout`` passes."""
        hub = get_hub()
        current = greenlet.getcurrent()
        if current is hub:
            raise gevent.exceptions.BlockingSwitchOutError(
                "Impossible to call blocking function in the event loop callback"
            )
        if seat.waiter is not None:
            raise gevent.exceptions.ConcurrentObjectUseError(
                "another greenlet is already waiting on this selector"
            )
        if self._hub is not hub:
            self._forget()
            self._watcher = hub.loop.io(self.fileno(), 1)  # 1: readable
            self._hub, self._hub_thread = hub, _os_thread_ident()
        watcher = self._watcher
        if not watcher.active:
            watcher.start(self._on_readable, watcher, hub)
        if timeout is not None:
            due = time.monotonic() + timeout
            timer = seat.timer
            if timer is None or not timer.active or seat.due > due:
                if timer is not None:
                    timer.close()
                seat.timer = timer = hub.loop.timer(timeout)
                timer.start(self._on_timer, seat, hub)
                seat.due = due
        seat.waiter = (hub, current)
        try:
            hub.switch()
        finally:
            seat.waiter = None

    @staticmethod
    def _wake(seat: _Seat, hub: Any) -> bool:
        # In the hub: switch into the greenlet parked in ``seat`` (if it waits in this hub).
        waiter = seat.waiter
        if waiter is None or waiter[0] is not hub:
            return False
        seat.waiter = None
        waiter[1].switch()
        return True

    def _on_timer(self, seat: _Seat, hub: Any) -> None:
        # In the hub: the parked greenlet looks whether its own deadline has come.
        self._wake(seat, hub)

    def _on_readable(self, watcher: Any, hub: Any) -> None:
        # In the hub. With nobody parked (or for a watcher of a hub given up), stop listening
        # until the next wait: level-triggered, it would fire on every hub turn meanwhile.
        if not (self._wake(self._guest, hub) or self._wake(self._owner, hub)):
            watcher.stop()

    def _forget(self) -> None:
        """Give up the watchers of the hub of the last wait (stopped in its own thread)."""
        hub, watchers = self._hub, (self._watcher, self._owner.timer, self._guest.timer)
        self._hub = self._watcher = self._owner.timer = self._guest.timer = None
        if hub is None:
            return
        if self._hub_thread == _os_thread_ident():
            _close_watchers(watchers)
            return
        # Another thread's loop: stopped there (a watcher firing before that finds itself
        # given up and stops; one of a loop that is gone is gone with it).
        try:
            hub.loop.run_callback_threadsafe(_close_watchers, watchers)
        except Exception:  # noqa: BLE001 - the loop is destroyed
            pass

    def close(self) -> None:
        self._forget()
        super().close()


def _close_watchers(watchers: tuple[Any, ...]) -> None:
    for watcher in watchers:
        if watcher is not None:
            try:
                watcher.close()
            except Exception:  # noqa: BLE001 - its loop has been destroyed
                pass


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
    * ``await result`` works in a coroutine, also on a loop in another thread;
    * a greenlet waiting alone for a request's result may read the reply itself (see
      ``kazoo.handlers._driver.Driver.serve_waiter``).
    """

    __slots__ = ("_callbacks", "_driver", "_handler", "_waiters")

    def __init__(self, handler: SequentialGeventHandler) -> None:
        super().__init__()
        self._handler = handler
        #: Callbacks linked with rawlink (kept after they ran, so a second link is a no-op).
        self._callbacks: list[_ResultCallback] | None = None
        #: Zero-argument hooks run in the setter's thread (asyncio hand-over).
        self._waiters: list[Callable[[], Any]] | None = None
        #: The I/O driver of the client that sent this request (set by the client): a
        #: waiter first offers to read the connection itself (``Driver.serve_waiter``).
        self._driver: Any = None

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
            driver = self._driver
            # Not from the hub: it cannot wait (gevent's own wait below says so).
            if driver is not None and greenlet.getcurrent() is not get_hub():
                timeout = driver.serve_waiter(self, timeout)
                if self.ready():
                    return True
            super().wait(timeout)
        return bool(self.ready())

    @property
    def _ready(self) -> bool:
        # What the I/O driver looks at (the attribute of kazoo's own results).
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
    #: Internal: a greenlet waiting for a result may read the connection itself (see
    #: ``kazoo.handlers._driver``); its results carry the driver for that.
    _callers_lead = True
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
        """Internal: a new green selector (an OS selector waited on through the hub), for
        the I/O driver."""
        if hasattr(_OsSelector, "fileno"):
            return _HubSelector()
        return gevent.selectors.GeventSelector()  # no such OS selector
