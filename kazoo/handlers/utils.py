"""Pieces shared by the handlers: the async result base class, decorators, socket helpers.

Public: :class:`AsyncResult`, :func:`capture_exceptions`, :func:`wrap`. The other helpers are
internal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

from kazoo.exceptions import ConfigurationError

__all__ = ["AsyncResult", "capture_exceptions", "wrap"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_ResultCallback = Callable[["AsyncResult[Any]"], Any]

#: Guards the short state changes of every result: settling, making the condition a waiter
#: sleeps on, linking callbacks, and the list of asyncio hooks. It is held for a few
#: attribute reads and writes only, never while waiting or calling out, so one lock for the
#: process is enough; under monkey-patching it may be a green lock, which is fine for the
#: same reason (nothing inside can switch greenlets).
_GUARD = threading.Lock()


class AsyncResult(Generic[T]):
    """A value or an exception, set once, that threads (or greenlets) can wait for.

    :param handler: the handler; linked callbacks are queued on its completion worker with
        ``handler.completion_queue.put(fn)``.
    :param condition_factory: makes the condition variable a waiter sleeps on (e.g.
        ``threading.Condition``); it is made only when someone has to wait.
    :param timeout_factory: the exception class raised by :meth:`get` on timeout, built from a
        message (the handler's ``timeout_exception``).

    :meth:`set` and :meth:`set_exception` are cheap (a short section under a module-wide
    guard, a notify only when someone waits, and callbacks queued only when some are
    linked); the first of them wins and later calls are ignored.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_condition",
        "_condition_factory",
        "_handler",
        "_ready",
        "_timeout_factory",
        "_waiters",
        "exception",
        "value",
    )

    def __init__(
        self,
        handler: Any,
        condition_factory: Callable[[], Any],
        timeout_factory: Callable[[str], BaseException],
    ) -> None:
        self._handler = handler
        self._condition_factory = condition_factory
        #: Made by the first waiter (under ``_GUARD``); ``None`` while nobody waited.
        self._condition: Any = None
        self._timeout_factory = timeout_factory
        self._ready = False
        #: Callbacks linked with rawlink (kept after they ran, so a second link is a no-op).
        self._callbacks: list[_ResultCallback] | None = None
        #: Zero-argument hooks run in the setter's thread (asyncio hand-over).
        self._waiters: list[Callable[[], Any]] | None = None
        self.value: T | None = None
        self.exception: BaseException | None = None

    def __repr__(self) -> str:
        if not self._ready:
            state = "pending"
        elif self.exception is not None:
            state = f"failed: {type(self.exception).__name__}"
        else:
            state = "done"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    # -- state -------------------------------------------------------------------------

    def ready(self) -> bool:
        """``True`` once a value or an exception has been set."""
        return self._ready

    def successful(self) -> bool:
        """``True`` when ready and no exception was set."""
        return self._ready and self.exception is None

    # -- setting (I/O owner, hot path) -----------------------------------------------------

    def set(self, value: T | None = None) -> None:
        """Store ``value`` and wake waiters; ignored if the result is already set."""
        self._settle(value, None)

    def set_exception(self, exception: BaseException) -> None:
        """Store ``exception`` (raised by :meth:`get`); ignored if already set."""
        self._settle(None, exception)

    def _settle(self, value: T | None, exception: BaseException | None) -> None:
        with _GUARD:
            if self._ready:
                return
            self.value = value
            self.exception = exception
            self._ready = True
            condition = self._condition
            callbacks = tuple(self._callbacks) if self._callbacks else None
            waiters = self._waiters
        if condition is not None:
            # A waiter checks ``_ready`` holding the condition, so it either saw the result
            # or is asleep in ``wait`` and gets this notify.
            with condition:
                condition.notify_all()
        if callbacks or waiters:
            self._fire(callbacks, waiters)

    def _fire(
        self,
        callbacks: tuple[_ResultCallback, ...] | None,
        waiters: list[Callable[[], Any]] | None,
    ) -> None:
        if waiters:
            for hook in waiters:
                hook()
        if callbacks:
            put = self._handler.completion_queue.put
            for callback in callbacks:
                put(functools.partial(callback, self))

    # -- waiting ---------------------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the value or raise the stored exception.

        Waits up to ``timeout`` seconds (``None``: for ever) when ``block``.

        :raises: the handler's ``timeout_exception`` when not ready in time (at once when
            ``block`` is false).
        """
        if not self._ready:
            if block:
                self._wait(timeout)
            if not self._ready:
                raise self._timeout_factory("Timed out waiting for the result")
        if self.exception is not None:
            raise self.exception
        return self.value  # type: ignore[return-value]

    def get_nowait(self) -> T:
        """``get(block=False)``."""
        return self.get(block=False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ready or ``timeout`` seconds have passed; return :meth:`ready`."""
        if not self._ready:
            self._wait(timeout)
        return self._ready

    def _wait(self, timeout: float | None) -> None:
        with _GUARD:
            if self._ready:
                return
            condition = self._condition
            if condition is None:
                condition = self._condition = self._condition_factory()
        with condition:
            if timeout is None:
                while not self._ready:
                    condition.wait()
                return
            deadline = time.monotonic() + timeout
            while not self._ready:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                condition.wait(remaining)

    # -- callbacks ---------------------------------------------------------------------------

    def rawlink(self, callback: _ResultCallback) -> None:
        """Run ``callback(self)`` once when ready, on the handler's completion worker.

        Queued at once if already ready. Linking the same callback again is a no-op.
        """
        with _GUARD:
            if self._callbacks is None:
                self._callbacks = []
            elif callback in self._callbacks:
                return
            self._callbacks.append(callback)
            ready = self._ready
        if ready:
            self._handler.completion_queue.put(functools.partial(callback, self))

    def unlink(self, callback: _ResultCallback) -> None:
        """Remove ``callback`` if it is linked and has not run yet."""
        with _GUARD:
            if self._callbacks and callback in self._callbacks:
                self._callbacks.remove(callback)

    # -- asyncio -----------------------------------------------------------------------------

    def _add_waiter(self, hook: Callable[[], Any]) -> None:
        add_waiter(self, hook)

    def __await__(self) -> Generator[Any, None, T]:
        """``await result`` from a coroutine, without blocking the event loop.

        The outcome is handed to the awaiting loop with ``loop.call_soon_threadsafe`` from
        whichever thread sets it. Cancelling the awaiting task does not affect the result.
        """
        return (yield from await_result(self))


def add_waiter(result: Any, hook: Callable[[], Any]) -> None:
    """Internal: register ``hook()`` to run in the setter's thread once ``result`` is set.

    ``result`` has a ``_waiters`` slot (``None`` or a list) that its setter reads *after*
    marking itself ready; see :func:`await_result` for why the setter needs no lock of ours
    (the base class's setter holds ``_GUARD`` anyway, gevent's result does not).
    """
    with _GUARD:
        if result._waiters is None:
            result._waiters = []
        result._waiters.append(hook)


def await_result(result: Any) -> Generator[Any, None, Any]:
    """Internal: the body of ``__await__`` for a result with ``ready()``, ``_add_waiter(hook)``
    and ``get(block=False)``, whatever the handler.

    The hook is added *before* ``ready()`` is checked again, and setters mark the result
    ready *before* they read the hooks: so either the setter sees the hook or this coroutine
    sees the result ready (or both, which is harmless). No lock of the handler's flavour is
    taken here, so a loop in another thread can await a result of a gevent or eventlet
    handler without touching that handler's hub.
    """
    if not result.ready():
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        hook = functools.partial(_wake_future, loop, future)
        result._add_waiter(hook)
        if result.ready():
            _resolve_future(future)
        try:
            yield from future.__await__()
        finally:
            if not future.done() or future.cancelled():  # the awaiter gave up
                forget_waiter(result, hook)
    return result.get(block=False)


def forget_waiter(result: Any, hook: Callable[[], Any]) -> None:
    """Internal: drop a hook whose awaiter gave up (cancelled, or timed out in ``wait_for``),
    so repeated give-ups on one pending result do not pile hooks up."""
    with _GUARD:
        waiters = result._waiters
        if waiters and hook in waiters:
            waiters.remove(hook)


def _wake_future(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    """Runs in the setter's thread: tell the awaiting loop the result is ready."""
    try:
        loop.call_soon_threadsafe(_resolve_future, future)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        log.debug("event loop closed before an awaited result was set")


def _resolve_future(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled awaiter leaves a cancelled future
        future.set_result(None)


def capture_exceptions(
    async_result: Any,
) -> Callable[[Callable[..., R]], Callable[..., R | None]]:
    """Decorator: an exception raised by the function becomes ``async_result.set_exception``.

    The decorated function returns what the function returned, or ``None`` after an
    exception.
    """

    def capture(function: Callable[..., R]) -> Callable[..., R | None]:
        @functools.wraps(function)
        def captured_function(*args: Any, **kwargs: Any) -> R | None:
            try:
                return function(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the result
                async_result.set_exception(exc)
                return None

        return captured_function

    return capture


def wrap(async_result: Any) -> Callable[[Callable[..., R]], Callable[..., R | None]]:
    """Decorator: a non-``None`` return value is ``set`` on ``async_result``, an exception
    becomes ``set_exception``."""

    def capture(function: Callable[..., R]) -> Callable[..., R | None]:
        @capture_exceptions(async_result)
        @functools.wraps(function)
        def captured_function(*args: Any, **kwargs: Any) -> R:
            value = function(*args, **kwargs)
            if value is not None:
                async_result.set(value)
            return value

        return captured_function

    return capture


# -- sockets (internal) --------------------------------------------------------------------


def describe(fn: Any) -> str:
    """Internal: name a queued callback for a log line (never its arguments: they may be
    private)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _fileno(obj: Any) -> int:
    fd = obj if isinstance(obj, int) else obj.fileno()
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return int(fd)


def selector_select(
    new_selector: Callable[[], selectors.BaseSelector],
    rlist: list[Any],
    wlist: list[Any],
    xlist: list[Any],
    timeout: float | None = None,
) -> tuple[list[Any], list[Any], list[Any]]:
    """Internal: :func:`select.select` semantics on a fresh selector from ``new_selector``.

    Items are file descriptors or objects with ``fileno()``; the ready ones are returned in
    input order. ``xlist`` is checked but its result is always empty (selectors cannot report
    exceptional conditions). ``timeout`` ``None`` blocks.
    """
    rfds = [_fileno(obj) for obj in rlist]
    wfds = [_fileno(obj) for obj in wlist]
    for obj in xlist:
        _fileno(obj)
    events: dict[int, int] = {}
    for fd in rfds:
        events[fd] = selectors.EVENT_READ
    for fd in wfds:
        events[fd] = events.get(fd, 0) | selectors.EVENT_WRITE
    with new_selector() as selector:
        for fd, mask in events.items():
            selector.register(fd, mask)
        ready = {key.fd: mask for key, mask in selector.select(timeout)}
    readable = [obj for obj, fd in zip(rlist, rfds) if ready.get(fd, 0) & selectors.EVENT_READ]
    writable = [obj for obj, fd in zip(wlist, wfds) if ready.get(fd, 0) & selectors.EVENT_WRITE]
    return readable, writable, []


def nodelay_socket(module: Any, *args: Any, **kwargs: Any) -> socket.socket:
    """Internal: ``module.socket(*args, **kwargs)``, with ``TCP_NODELAY`` on TCP sockets."""
    sock: socket.socket = module.socket(*args, **kwargs)
    if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def nonblocking_pair(module: Any) -> tuple[socket.socket, socket.socket]:
    """Internal: a connected ``module.socketpair()``, both ends non-blocking."""
    first, second = module.socketpair()
    first.setblocking(False)
    second.setblocking(False)
    return first, second


def create_tcp_connection(
    module: Any,
    address: tuple[str, int],
    timeout: float | None = None,
) -> socket.socket:
    """Connect a TCP socket of ``module`` (``socket`` or a green twin) to ``address``.

    The socket comes back connected, with ``TCP_NODELAY`` set and ``timeout`` applied as
    its timeout (the driver switches it to the mode it needs).
    """
    sock: socket.socket = module.create_connection(address, timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        sock.close()
        raise
    return sock


def check_tls_supported(use_ssl: bool) -> None:
    """Raise :class:`ConfigurationError` when TLS is asked for (not implemented yet)."""
    if use_ssl:
        raise ConfigurationError("TLS is not supported yet")
