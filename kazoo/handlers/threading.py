"""The default handler: OS threads.

:class:`SequentialThreadingHandler` runs two daemon workers, one for watch callbacks and state
listeners (``callback_queue``) and one for completion callbacks of async results
(``completion_queue``). Each runs its callbacks one at a time, in the order they were queued;
an exception in a callback is logged and the worker carries on.
"""

from __future__ import annotations

import atexit
import functools
import logging
import queue
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Callable
from socket import socket as Socket
from typing import Any, TypeVar

from kazoo.handlers import utils
from kazoo.protocol.states import Callback

__all__ = ["AsyncResult", "KazooTimeoutError", "SequentialThreadingHandler"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Queued after the last callback to end a worker.
_STOP = object()
#: Bound on joining the workers at interpreter exit.
_EXIT_STOP_TIMEOUT = 2.0


class KazooTimeoutError(Exception):
    """A wait on the threading handler timed out."""


class AsyncResult(utils.AsyncResult[T]):
    """An :class:`~kazoo.interfaces.IAsyncResult` for threads."""

    __slots__ = ()

    def __init__(self, handler: SequentialThreadingHandler) -> None:
        # The base class's __init__, spelt out: one is made per request.
        self._handler = handler
        self._condition_factory = threading.Condition
        self._condition = None
        self._timeout_factory = KazooTimeoutError
        self._ready = False
        self._callbacks = None
        self._waiters = None
        self.value = None
        self.exception = None


def _run_worker(work: queue.SimpleQueue[Any], kind: str) -> None:
    get = work.get
    while True:
        fn = get()
        if fn is _STOP:
            return
        try:
            fn()
        except BaseException:  # noqa: BLE001 - a callback must never end the worker
            log.exception("Exception in %s callback %s", kind, utils.describe(fn))
        fn = None  # do not keep the last callback alive while idle


def _signal_stop(*queues: queue.SimpleQueue[Any]) -> None:
    for work in queues:
        work.put(_STOP)


def _stop_at_exit(ref: weakref.ReferenceType[SequentialThreadingHandler]) -> None:
    handler = ref()
    if handler is not None:
        handler._stop(_EXIT_STOP_TIMEOUT)


class SequentialThreadingHandler:
    """Threads: primitives from :mod:`threading`, sockets from :mod:`socket`.

    Internal members used by the I/O driver and by :class:`AsyncResult`:
    ``callback_queue.put(fn)`` / ``completion_queue.put(fn)`` queue a zero-argument callable
    on the watch / completion worker, and :meth:`new_selector` gives the driver its selector.
    """

    name = "sequential_threading_handler"
    timeout_exception = KazooTimeoutError
    sleep_func = staticmethod(time.sleep)
    queue_impl = queue.Queue
    queue_empty = queue.Empty
    #: Bound, in seconds, on joining the workers in :meth:`stop`.
    stop_timeout = 10.0

    def __init__(self) -> None:
        self.callback_queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.completion_queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._state_lock = threading.Lock()
        self._running = False
        self._threads: tuple[threading.Thread, ...] = ()
        self._atexit_hook: Callable[[], None] | None = None
        self._finalizer: weakref.finalize[..., SequentialThreadingHandler] | None = None

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """``True`` between :meth:`start` and :meth:`stop`."""
        return self._running

    def start(self) -> None:
        """Start the two callback workers. Idempotent.

        Callbacks queued while the handler was stopped run now, in order.
        """
        with self._state_lock:
            if self._running:
                return
            old = self._threads
            if old and old[0].is_alive():  # still draining after a stop() that timed out
                self.callback_queue = queue.SimpleQueue()
            if old and old[1].is_alive():
                self.completion_queue = queue.SimpleQueue()
            self._threads = (
                self._spawn_worker(self.callback_queue, "watch"),
                self._spawn_worker(self.completion_queue, "completion"),
            )
            self._running = True
            hook = functools.partial(_stop_at_exit, weakref.ref(self))
            atexit.register(hook)
            self._atexit_hook = hook
            # A handler dropped while running must not leave its workers blocked for ever.
            self._finalizer = weakref.finalize(
                self, _signal_stop, self.callback_queue, self.completion_queue
            )
            self._finalizer.atexit = False  # type: ignore[misc]

    @staticmethod
    def _spawn_worker(work: queue.SimpleQueue[Any], kind: str) -> threading.Thread:
        thread = threading.Thread(
            target=_run_worker, args=(work, kind), name=f"kazoo-{kind}-worker", daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the workers once the callbacks already queued have run. Idempotent.

        Joins the workers for at most :attr:`stop_timeout` seconds in total (a worker stuck in
        a callback is left behind with a warning). Called from a callback, it does not wait
        for its own worker.
        """
        self._stop(self.stop_timeout)

    def _stop(self, timeout: float) -> None:
        with self._state_lock:
            if not self._running:
                return
            self._running = False
            _signal_stop(self.callback_queue, self.completion_queue)
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            if self._atexit_hook is not None:
                atexit.unregister(self._atexit_hook)
                self._atexit_hook = None
            threads = self._threads
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for thread in threads:
            if thread is current:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s", thread.name, timeout)

    # -- callbacks ---------------------------------------------------------------------------

    def dispatch_callback(self, callback: Callback) -> None:
        """Queue ``callback.func(*callback.args)`` on the watch-callback worker."""
        self.callback_queue.put(functools.partial(callback.func, *callback.args))

    # -- primitives --------------------------------------------------------------------------

    def event_object(self) -> threading.Event:
        """A new :class:`threading.Event`."""
        return threading.Event()

    def lock_object(self) -> threading.Lock:
        """A new :class:`threading.Lock`."""
        return threading.Lock()

    def rlock_object(self) -> threading.RLock:
        """A new :class:`threading.RLock`."""
        return threading.RLock()

    def async_result(self) -> AsyncResult[Any]:
        """A new, unset :class:`AsyncResult` bound to this handler."""
        return AsyncResult(self)

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
        """Run ``func(*args, **kwargs)`` in a new daemon thread; return the started thread."""
        thread = threading.Thread(target=func, args=args, kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    # -- sockets and selection ---------------------------------------------------------------

    def new_selector(self) -> selectors.BaseSelector:
        """Internal: a new :class:`selectors.DefaultSelector` for the blocking I/O driver."""
        return selectors.DefaultSelector()

    def select(
        self,
        rlist: list[Any],
        wlist: list[Any],
        xlist: list[Any],
        timeout: float | None = None,
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """Like :func:`select.select`, on a selector (no file-descriptor number limit).

        Items are file descriptors or objects with ``fileno()``; the ready ones are returned
        in input order. ``xlist`` is accepted for compatibility, but selectors cannot report
        exceptional conditions, so its result is always empty. ``timeout`` ``None`` blocks.
        """
        return utils.selector_select(selectors.DefaultSelector, rlist, wlist, xlist, timeout)

    def socket(self, *args: Any, **kwargs: Any) -> Socket:
        """A new :class:`socket.socket` (TCP by default, then with ``TCP_NODELAY``)."""
        return utils.nodelay_socket(socket, *args, **kwargs)

    def create_socket_pair(self) -> tuple[Socket, Socket]:
        """A connected :func:`socket.socketpair`, both ends non-blocking (for wake-ups)."""
        return utils.nonblocking_pair(socket)

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        """Internal: :func:`socket.getaddrinfo` (the I/O driver resolves hosts through this)."""
        return socket.getaddrinfo(host, port, family, type, proto, flags)

    def create_connection(
        self,
        address: tuple[str, int],
        hostname: str | None = None,
        timeout: float | None = None,
        use_ssl: bool = False,
        ca: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        keyfile_password: str | None = None,
        verify_certs: bool = True,
        check_hostname: bool = False,
        options: Any = None,
        ciphers: str | None = None,
    ) -> Socket:
        """A TCP socket connected to ``address``, ``TCP_NODELAY`` set, ``timeout`` applied.

        :raises ConfigurationError: ``use_ssl`` is true (TLS is not supported yet).
        :raises OSError: the connection failed (``TimeoutError`` after ``timeout``).
        """
        utils.check_tls_supported(use_ssl)
        return utils.create_tcp_connection(socket, address, timeout)
