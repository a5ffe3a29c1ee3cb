"""The interfaces a handler and its async results provide.

These are documentation and typing aids (``typing.Protocol``, runtime checkable): handlers do
not inherit from them, they only have to provide the members. ``isinstance(obj, IHandler)``
checks that the members exist, not their signatures.
"""

from __future__ import annotations

import selectors
from collections.abc import Callable, Generator
from socket import socket as Socket
from typing import Any, Protocol, TypeVar, runtime_checkable

from kazoo.protocol.states import Callback

__all__ = ["IAsyncResult", "IHandler"]

T = TypeVar("T")


@runtime_checkable
class IAsyncResult(Protocol[T]):
    """The outcome of an asynchronous call: a value or an exception, set once.

    Modelled on gevent's ``AsyncResult``. Shared freely between threads (or greenlets).
    """

    #: The value once set successfully, else ``None``.
    value: T | None
    #: The exception once set with :meth:`set_exception`, else ``None``.
    exception: BaseException | None

    def ready(self) -> bool:
        """``True`` once a value or an exception has been set."""
        ...

    def successful(self) -> bool:
        """``True`` when ready and no exception was set."""
        ...

    def set(self, value: T | None = None) -> None:
        """Store ``value``, wake every waiter and schedule the linked callbacks.

        Only the first ``set``/``set_exception`` counts; later ones are ignored.
        """
        ...

    def set_exception(self, exception: BaseException) -> None:
        """Store ``exception`` (raised by :meth:`get`), wake waiters, schedule callbacks."""
        ...

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the value or raise the stored exception.

        Waits up to ``timeout`` seconds (``None``: for ever) when ``block``; raises the
        handler's ``timeout_exception`` when not ready in time (at once when not ``block``).
        """
        ...

    def get_nowait(self) -> T:
        """``get(block=False)``."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ready or ``timeout`` seconds have passed; return :meth:`ready`."""
        ...

    def rawlink(self, callback: Callable[[IAsyncResult[T]], Any]) -> None:
        """Run ``callback(self)`` once when ready, on the handler's completion worker.

        Scheduled at once if already ready. Linking the same callback twice counts once.
        """
        ...

    def unlink(self, callback: Callable[[IAsyncResult[T]], Any]) -> None:
        """Remove a callback linked with :meth:`rawlink` that has not run yet."""
        ...

    def __await__(self) -> Generator[Any, None, T]:
        """``await result`` inside a coroutine: the value, or the stored exception raised.

        Does not block the event loop: the outcome is handed to the awaiting loop with
        ``loop.call_soon_threadsafe``. Cancelling the awaiting task does not cancel the
        request, and the result stays usable.
        """
        ...


@runtime_checkable
class IHandler(Protocol):
    """What :class:`~kazoo.client.KazooClient` needs from a handler.

    A handler supplies the concurrency flavour (threads, gevent, eventlet): primitives,
    sockets, and two workers that run callbacks one at a time, in order -- one for watch
    callbacks and state listeners, one for completion (``rawlink``) callbacks. A callback
    that blocks delays later callbacks of its kind, never the I/O owner.

    Every primitive must wait in the handler's flavour: the client and the I/O driver block
    only through them (events, locks, sockets, selectors, name resolution, sleeping), which
    is what lets the green handlers work without monkey-patching.
    """

    #: Name of the handler, e.g. ``"sequential_threading_handler"``.
    name: str
    #: Exception class built from a message; raised by ``start()`` of the client and by
    #: :meth:`IAsyncResult.get` on timeout.
    timeout_exception: type[BaseException]
    #: ``sleep_func(seconds)``: sleep in the handler's flavour (a plain function attribute).
    sleep_func: Callable[[float], Any]
    #: Queue class and its ``Empty`` exception (used by TreeCache).
    queue_impl: type[Any]
    queue_empty: type[BaseException]

    # Internal: queues of the two workers. ``put(fn)`` with a zero-argument callable queues
    # ``fn()`` on the watch worker (``callback_queue``) or the completion worker
    # (``completion_queue``). AsyncResult schedules its rawlink callbacks this way.
    callback_queue: Any
    completion_queue: Any

    @property
    def running(self) -> bool:
        """``True`` between :meth:`start` and :meth:`stop`."""
        ...

    def start(self) -> None:
        """Start the callback workers. Idempotent."""
        ...

    def stop(self) -> None:
        """Stop the callback workers after the callbacks already queued. Idempotent, bounded."""
        ...

    def select(
        self,
        rlist: list[Any],
        wlist: list[Any],
        xlist: list[Any],
        timeout: float | None = None,
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """``select.select`` semantics built on a selector (no file-descriptor limit)."""
        ...

    def socket(self, *args: Any, **kwargs: Any) -> Socket:
        """A new socket of the handler's flavour (arguments as for ``socket.socket``)."""
        ...

    def create_socket_pair(self) -> tuple[Socket, Socket]:
        """A connected pair of sockets (used to wake the I/O owner)."""
        ...

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
        """A socket connected to ``address`` (TCP, plus TLS with SNI ``hostname``)."""
        ...

    def event_object(self) -> Any:
        """A new event object of the handler's flavour."""
        ...

    def lock_object(self) -> Any:
        """A new (non-reentrant) lock of the handler's flavour."""
        ...

    def rlock_object(self) -> Any:
        """A new reentrant lock of the handler's flavour."""
        ...

    def async_result(self) -> IAsyncResult[Any]:
        """A new, unset :class:`IAsyncResult` bound to this handler."""
        ...

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` concurrently; return the thread or greenlet."""
        ...

    def dispatch_callback(self, callback: Callback) -> None:
        """Queue ``callback.func(*callback.args)`` on the watch-callback worker."""
        ...

    def new_selector(self) -> selectors.BaseSelector:
        """Internal: a new selector of the handler's flavour, for the blocking I/O driver.

        The driver keeps one per connection and closes it when done.
        """
        ...

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        """Internal: :func:`socket.getaddrinfo` of the handler's flavour, for the I/O driver.

        The driver resolves every host on every connect pass through this, so a green
        handler must not block its hub here (gevent's resolver, eventlet's green DNS).
        """
        ...
