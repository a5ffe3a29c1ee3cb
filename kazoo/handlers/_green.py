"""What the gevent and eventlet handlers share: sequential callback workers run as greenlets,
and sockets, selection and name resolution from a green ``socket`` module.

Nothing here blocks the calling OS thread: every wait goes through the flavour's own
primitives, so the handlers work with and without monkey-patching. They are meant for the
thread that runs their hub; calling one from another OS thread is not supported (awaiting one
of their results from an asyncio loop in another thread is: see
:func:`kazoo.handlers.utils.await_result`).

A subclass sets ``_socket_module`` (the flavour's green ``socket`` module) and provides
:meth:`GreenHandler._new_queue`, :meth:`GreenHandler._join` and the public primitives
(``event_object``, ``lock_object``, ``rlock_object``, ``async_result``, ``spawn``,
``new_selector``).
"""

from __future__ import annotations

import _socket
import functools
import logging
import selectors
import time
from collections.abc import Callable
from socket import AI_NUMERICHOST, IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY
from socket import socket as Socket
from typing import Any

import greenlet

from kazoo.handlers import utils
from kazoo.protocol.states import Callback

__all__ = ["GreenHandler"]

#: Queued after the last callback to end a worker.
_STOP = object()
#: Seconds a worker greenlet waits for a callback before it ends (the next one starts another).
WORKER_IDLE_EXIT = 2.0


class _GreenWorker:
    """A queue of zero-argument callables run one at a time, in order, by one greenlet.

    The greenlet is spawned by the first callable put while the worker is open and ends
    after :data:`WORKER_IDLE_EXIT` idle seconds, or at :meth:`close` once the queue is
    drained. Callables put while closed wait for :meth:`open`. The flavour's queue, too,
    exists only while there is something to run (an idle worker costs a few slots).

    Everything here runs in the hub's thread (like the flavour's queue, which is not
    thread-safe), so no lock is needed: greenlets switch only where they wait, and the
    worker's decision to end (from the timed-out ``get`` to giving up its greenlet) has no
    wait in it, so a :meth:`put` sees either the worker still there (and the worker then
    finds the item) or no worker (and spawns one).
    """

    __slots__ = ("_handler", "_open", "greenlet", "kind", "queue")

    def __init__(self, handler: GreenHandler, kind: str) -> None:
        self._handler = handler
        self.kind = kind
        #: The flavour's queue, ``None`` while there is nothing to run.
        self.queue: Any = None
        #: The running worker greenlet, ``None`` while there is nothing to run.
        self.greenlet: Any = None
        self._open = False

    def put(self, fn: Callable[[], Any]) -> None:
        queue = self.queue
        if queue is None:
            queue = self.queue = self._handler._new_queue()
        queue.put(fn)
        if self.greenlet is None and self._open:
            self.greenlet = self._handler.spawn(self._run)

    def open(self) -> None:
        self._open = True
        if self.greenlet is None and self.queue is not None and not self.queue.empty():
            self.greenlet = self._handler.spawn(self._run)

    def close(self) -> Any:
        """Stop taking new greenlets; the running one ends after what is queued. Returns it."""
        self._open = False
        worker = self.greenlet
        if worker is not None:
            self.queue.put(_STOP)
        return worker

    def _run(self) -> None:
        queue = self.queue  # not replaced while this greenlet is the worker
        get = queue.get
        empty = self._handler.queue_empty
        log = self._handler._log
        me = greenlet.getcurrent()
        try:
            while True:
                try:
                    fn = get(timeout=WORKER_IDLE_EXIT)
                except empty:
                    # No switch from here on: a put() after this line sees no greenlet and
                    # spawns one; one before it left its item in the queue.
                    if queue.empty():
                        self.queue = None
                        return
                    continue
                if fn is _STOP:
                    return
                try:
                    fn()
                except greenlet.GreenletExit:  # the worker itself is being killed
                    raise
                except BaseException:  # noqa: BLE001 - a callback must never end the worker
                    log.exception("Exception in %s callback %s", self.kind, utils.describe(fn))
                fn = None  # do not keep the last callback alive while idle
        finally:
            if self.greenlet is me:
                self.greenlet = None


class GreenHandler:
    """Base of :class:`~kazoo.handlers.gevent.SequentialGeventHandler` and
    :class:`~kazoo.handlers.eventlet.SequentialEventletHandler`.

    Two callback workers, one for watch callbacks and state listeners (``callback_queue``),
    one for completion callbacks (``completion_queue``); each runs its callbacks one at a
    time, in the order they were queued, and logs (and survives) an exception in one. A
    worker's greenlet exists only while it has work: the first callback spawns it and it
    ends after :data:`WORKER_IDLE_EXIT` seconds without one, so an idle client costs no
    worker greenlet.
    """

    name: str
    timeout_exception: type[BaseException]
    sleep_func: Callable[[float], Any]
    queue_impl: type[Any]
    queue_empty: type[BaseException]
    #: Bound, in seconds, on joining the workers in :meth:`stop`.
    stop_timeout = 10.0
    #: The flavour's green ``socket`` module (set by the subclass).
    _socket_module: Any = None
    #: Internal: the running green thread, which the I/O driver tells callers apart by
    #: (``threading.get_ident`` is the same for all of a thread's greenlets).
    _current_task = staticmethod(greenlet.getcurrent)
    _log = logging.getLogger(__name__)

    def __init__(self) -> None:
        self.callback_queue = _GreenWorker(self, "watch")
        self.completion_queue = _GreenWorker(self, "completion")
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    @property
    def _workers(self) -> tuple[Any, ...]:
        """The worker greenlets alive now (none while there is nothing to run)."""
        found = (self.callback_queue.greenlet, self.completion_queue.greenlet)
        return tuple(worker for worker in found if worker is not None)

    # -- flavour hooks -------------------------------------------------------------------------

    def _new_queue(self) -> Any:
        """An unbounded queue of the flavour whose ``put`` never blocks."""
        raise NotImplementedError

    def _join(self, worker: Any, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for ``worker`` (a greenlet of :meth:`spawn`) to end."""
        raise NotImplementedError

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` in a new greenlet; return it."""
        raise NotImplementedError

    def new_selector(self) -> selectors.BaseSelector:
        """Internal: a new selector of the flavour, for the blocking I/O driver."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """``True`` between :meth:`start` and :meth:`stop`."""
        return self._running

    def start(self) -> None:
        """Let the two callback workers run. Idempotent.

        Callbacks queued while the handler was stopped run now, in order.
        """
        if self._running:
            return
        # A worker still draining after a stop() that timed out keeps its queue; new
        # callbacks go to a fresh one.
        if self.callback_queue.greenlet is not None:
            self.callback_queue = _GreenWorker(self, "watch")
        if self.completion_queue.greenlet is not None:
            self.completion_queue = _GreenWorker(self, "completion")
        self._running = True
        self.callback_queue.open()
        self.completion_queue.open()

    def stop(self) -> None:
        """Stop the workers once the callbacks already queued have run. Idempotent.

        Waits for the workers for at most :attr:`stop_timeout` seconds in total (a worker
        stuck in a callback is left behind with a warning). Called from a callback, it does
        not wait for its own worker.
        """
        if not self._running:
            return
        self._running = False
        workers = []
        for queue in (self.callback_queue, self.completion_queue):
            worker = queue.close()
            if worker is not None:
                workers.append((worker, queue.kind))
        deadline = time.monotonic() + self.stop_timeout
        current = greenlet.getcurrent()
        for worker, kind in workers:
            if worker is current:
                continue
            self._join(worker, max(0.0, deadline - time.monotonic()))
            if not worker.dead:
                self._log.warning(
                    "the %s worker did not stop within %.1f s", kind, self.stop_timeout
                )

    # -- callbacks -----------------------------------------------------------------------------

    def dispatch_callback(self, callback: Callback) -> None:
        """Queue ``callback.func(*callback.args)`` on the watch-callback worker."""
        self.callback_queue.put(functools.partial(callback.func, *callback.args))

    # -- sockets and selection -----------------------------------------------------------------

    def select(
        self,
        rlist: list[Any],
        wlist: list[Any],
        xlist: list[Any],
        timeout: float | None = None,
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """Like :func:`select.select`, on a green selector (no file-descriptor number limit).

        Items are file descriptors or objects with ``fileno()``; the ready ones are returned
        in input order. ``xlist`` is accepted for compatibility, but selectors cannot report
        exceptional conditions, so its result is always empty. ``timeout`` ``None`` blocks.
        """
        return utils.selector_select(self.new_selector, rlist, wlist, xlist, timeout)

    def socket(self, *args: Any, **kwargs: Any) -> Socket:
        """A new green socket (TCP by default, then with ``TCP_NODELAY``)."""
        return utils.nodelay_socket(self._socket_module, *args, **kwargs)

    def create_socket_pair(self) -> tuple[Socket, Socket]:
        """A connected green socket pair, both ends non-blocking (for wake-ups)."""
        return utils.nonblocking_pair(self._socket_module)

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
        """A green TCP socket connected to ``address``, ``TCP_NODELAY`` set, ``timeout``
        applied. Each address :meth:`getaddrinfo` gives is tried in turn (so an IP address
        needs no resolver, and no helper thread).

        :raises ConfigurationError: ``use_ssl`` is true (TLS is not supported yet).
        :raises OSError: the connection failed (``TimeoutError`` after ``timeout``).
        """
        utils.check_tls_supported(use_ssl)
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _name, sockaddr in self.getaddrinfo(host, port, 0, SOCK_STREAM):
            sock = self._socket_module.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error if error is not None else OSError(f"no address for {host!r}")

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        """Internal: ``getaddrinfo`` that does not block the hub.

        An IP address is converted at once by the OS (``AI_NUMERICHOST``: no lookup, so no
        wait); a name goes to the green module's resolver (gevent's resolver, eventlet's
        green DNS), which may use a helper thread of the library.
        """
        try:
            return _socket.getaddrinfo(host, port, family, type, proto, flags | AI_NUMERICHOST)
        except OSError:  # not an IP address
            pass
        return self._socket_module.getaddrinfo(host, port, family, type, proto, flags)
