"""The default handler: OS threads.

:class:`SequentialThreadingHandler` has two callback workers, one for watch callbacks and state
listeners (``callback_queue``) and one for completion callbacks of async results
(``completion_queue``). Each runs its callbacks one at a time, in the order they were queued;
an exception in a callback is logged and the worker carries on. A worker's thread exists only
while it has work: the first callback starts it and it ends after :data:`WORKER_IDLE_EXIT`
seconds without one, so an idle client costs one thread (its connection's).
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
#: Seconds a worker thread waits for a callback before it ends (the next one starts another).
WORKER_IDLE_EXIT = 2.0


class KazooTimeoutError(Exception):
    """A wait on the threading handler timed out."""


class AsyncResult(utils.AsyncResult[T]):
    """An :class:`~kazoo.interfaces.IAsyncResult` for threads."""

    __slots__ = ("_driver",)

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
        #: The I/O driver of the client that sent this request (set by the client): a
        #: waiter first offers to read the connection itself (``Driver.serve_waiter``).
        self._driver: Any = None

    def _wait(self, timeout: float | None) -> None:
        driver = self._driver
        if driver is not None:
            timeout = driver.serve_waiter(self, timeout)
            if self._ready:
                return
        super()._wait(timeout)


class _Worker:
    """A queue of zero-argument callables run one at a time, in order, by one thread.

    The thread is started by the first callable put while the worker is open and ends after
    :data:`WORKER_IDLE_EXIT` idle seconds, or at :meth:`close` once the queue is drained.
    Callables put while closed wait for :meth:`open`.
    """

    __slots__ = ("_lock", "_open", "kind", "queue", "thread")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open = False

    def put(self, fn: Callable[[], Any]) -> None:
        self.queue.put(fn)
        if self.thread is None:
            self._start_thread()

    def open(self) -> None:
        with self._lock:
            self._open = True
        self._start_thread()

    def close(self) -> threading.Thread | None:
        """Stop taking new threads; the running one ends after what is queued. Returns it."""
        with self._lock:
            self._open = False
            thread = self.thread
            if thread is not None:
                self.queue.put(_STOP)
        return thread

    def _start_thread(self) -> None:
        with self._lock:
            if self.thread is not None or not self._open or self.queue.empty():
                return
            thread = threading.Thread(
                target=self._run, name=f"kazoo-{self.kind}-worker", daemon=True
            )
            self.thread = thread
            thread.start()

    def _run(self) -> None:
        get = self.queue.get
        me = threading.current_thread()
        while True:
            try:
                fn = get(timeout=WORKER_IDLE_EXIT)
            except queue.Empty:
                # Give up the thread first, then look again: a put() that comes after the
                # look sees no thread and starts one.
                with self._lock:
                    self.thread = None
                    if self.queue.empty():
                        return
                    self.thread = me
                continue
            if fn is _STOP:
                with self._lock:
                    if self.thread is me:
                        self.thread = None
                return
            try:
                fn()
            except BaseException:  # noqa: BLE001 - a callback must never end the worker
                log.exception("Exception in %s callback %s", self.kind, utils.describe(fn))
            fn = None  # do not keep the last callback alive while idle


#: Running handlers, stopped (their queued callbacks run) at interpreter exit. A handler
#: dropped while running needs nothing: its idle workers end by themselves.
_RUNNING: weakref.WeakSet[SequentialThreadingHandler] = weakref.WeakSet()


@atexit.register
def _stop_at_exit() -> None:
    for handler in list(_RUNNING):
        handler._stop(_EXIT_STOP_TIMEOUT)


class SequentialThreadingHandler:
    """Threads: primitives from :mod:`threading`, sockets from :mod:`socket`.

    Internal members used by the I/O driver and by :class:`AsyncResult`:
    ``callback_queue.put(fn)`` / ``completion_queue.put(fn)`` queue a zero-argument callable
    on the watch / completion worker, and :meth:`new_selector` gives the driver its selector.
    """

    name = "sequential_threading_handler"
    #: Internal: a caller waiting for a result may read the connection itself (see
    #: ``kazoo.handlers._driver``); its results carry the driver for that.
    _callers_lead = True
    timeout_exception = KazooTimeoutError
    sleep_func = staticmethod(time.sleep)
    queue_impl = queue.Queue
    queue_empty = queue.Empty
    #: Bound, in seconds, on joining the workers in :meth:`stop`.
    stop_timeout = 10.0

    def __init__(self) -> None:
        self.callback_queue = _Worker("watch")
        self.completion_queue = _Worker("completion")
        self._state_lock = threading.Lock()
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    @property
    def _threads(self) -> tuple[threading.Thread, ...]:
        """The worker threads alive now (none while there is nothing to run)."""
        found = (self.callback_queue.thread, self.completion_queue.thread)
        return tuple(thread for thread in found if thread is not None)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """``True`` between :meth:`start` and :meth:`stop`."""
        return self._running

    def start(self) -> None:
        """Let the two callback workers run. Idempotent.

        Callbacks queued while the handler was stopped run now, in order.
        """
        with self._state_lock:
            if self._running:
                return
            # A worker still draining after a stop() that timed out keeps its queue; new
            # callbacks go to a fresh one.
            if self.callback_queue.thread is not None:
                self.callback_queue = _Worker("watch")
            if self.completion_queue.thread is not None:
                self.completion_queue = _Worker("completion")
            self.callback_queue.open()
            self.completion_queue.open()
            self._running = True
            _RUNNING.add(self)

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
            threads = [
                thread
                for thread in (self.callback_queue.close(), self.completion_queue.close())
                if thread is not None
            ]
            _RUNNING.discard(self)
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
