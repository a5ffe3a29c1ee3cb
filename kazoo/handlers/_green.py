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


def _run_worker(get: Callable[[], Any], kind: str, log: logging.Logger) -> None:
    while True:
        fn = get()
        if fn is _STOP:
            return
        try:
            fn()
        except greenlet.GreenletExit:  # the worker itself is being killed
            raise
        except BaseException:  # noqa: BLE001 - a callback must never end the worker
            log.exception("Exception in %s callback %s", kind, utils.describe(fn))
        fn = None  # do not keep the last callback alive while idle


class GreenHandler:
    """Base of :class:`~kazoo.handlers.gevent.SequentialGeventHandler` and
    :class:`~kazoo.handlers.eventlet.SequentialEventletHandler`.

    Two worker greenlets, one for watch callbacks and state listeners (``callback_queue``),
    one for completion callbacks (``completion_queue``); each runs its callbacks one at a
    time, in the order they were queued, and logs (and survives) an exception in one.
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
    _log = logging.getLogger(__name__)

    def __init__(self) -> None:
        self.callback_queue: Any = self._new_queue()
        self.completion_queue: Any = self._new_queue()
        self._running = False
        self._workers: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

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
        """Start the two callback workers. Idempotent.

        Callbacks queued while the handler was stopped run now, in order.
        """
        if self._running:
            return
        old = self._workers
        if old and not old[0].dead:  # still draining after a stop() that timed out
            self.callback_queue = self._new_queue()
        if old and not old[1].dead:
            self.completion_queue = self._new_queue()
        self._workers = (
            self.spawn(_run_worker, self.callback_queue.get, "watch", self._log),
            self.spawn(_run_worker, self.completion_queue.get, "completion", self._log),
        )
        self._running = True

    def stop(self) -> None:
        """Stop the workers once the callbacks already queued have run. Idempotent.

        Waits for the workers for at most :attr:`stop_timeout` seconds in total (a worker
        stuck in a callback is left behind with a warning). Called from a callback, it does
        not wait for its own worker.
        """
        if not self._running:
            return
        self._running = False
        self.callback_queue.put(_STOP)
        self.completion_queue.put(_STOP)
        deadline = time.monotonic() + self.stop_timeout
        current = greenlet.getcurrent()
        for worker, kind in zip(self._workers, ("watch", "completion")):
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
