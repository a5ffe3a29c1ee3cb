"""Higher-level watchers: ``DataWatch``, ``ChildrenWatch`` and ``PatientChildrenWatch``.

``DataWatch`` and ``ChildrenWatch`` keep one one-shot watch of their own on the node and
re-read it each time the watch fires. The client keeps one-shot watches across reconnects
(changes missed while disconnected arrive as ordinary events), so nothing has to be re-read
after a dropped connection; only when the session is lost (every watch fires
``EventType.NONE`` and is dropped) is the node read again, on the new session.

Reads are asynchronous (``*_async`` + ``rawlink``) and the user's function runs on the
handler's callback worker, one call at a time and in the order of the reads, so a watcher
never blocks that worker on a network round trip. The first call is made by the constructor
(or by the decorator call), in the caller's thread, before it returns; calls that arrive
meanwhile wait for it and then run on the worker. An exception in the function is logged and
the watch goes on.

Only the public client API is used, with primitives from ``client.handler``, so the watchers
work under every blocking handler.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import warnings
from collections import deque
from typing import Any, Callable

from kazoo.exceptions import AuthFailedError, ConnectionClosedError, KazooException, NoNodeError
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.paths import validate_path
from kazoo.protocol.states import Callback, EventType, KazooState, WatchedEvent, WatcherType
from kazoo.recipe._waiting import uncertain

__all__ = ["ChildrenWatch", "DataWatch", "PatientChildrenWatch"]

log = logging.getLogger(__name__)

_NOTHING: Any = object()  # "no read waiting for a connection"


class _Read:
    """One read chain: the result it settles, and how its steps wait for replies.

    The first read waits in the caller's thread (``blocking``), depending only on the I/O
    owner setting results, so it also works when called from a callback, whatever the
    handler's workers. Later reads go on in the thread that sets each result (the I/O
    owner, see :func:`_when_set`); a result that is ready already (a stopped client fails
    at once) is handled on the spot.
    """

    __slots__ = ("blocking", "outcome")

    def __init__(self, outcome: IAsyncResult[Any], blocking: bool) -> None:
        self.outcome = outcome
        self.blocking = blocking

    def then(self, result: IAsyncResult[Any], step: Callable[[IAsyncResult[Any]], Any]) -> None:
        if self.blocking or result.ready():
            result.wait()
            step(result)
        else:
            _when_set(result, step)


def _when_set(result: IAsyncResult[Any], step: Callable[[IAsyncResult[Any]], Any]) -> None:
    """Run ``step(result)`` once, in the thread that sets ``result`` (the I/O owner).

    Not ``rawlink``: that would hop through the completion worker, and a change would reach
    the function two thread hand-offs later. The steps run here only submit requests and
    settle results; they never block and never call user code.
    """
    token = [True]

    def run() -> None:
        try:
            token.pop()  # atomic: the hook and the check below may both get here
        except IndexError:
            return
        try:
            step(result)
        except Exception:  # never into the I/O loop
            log.exception("a watch step failed")

    result._add_waiter(run)  # type: ignore[attr-defined]
    if result.ready():
        run()


def _accepts_positional(func: Callable[..., Any], count: int) -> bool:
    """True when ``func`` can be called with ``count`` positional arguments."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional >= count


class _OneShotWatch:
    """What DataWatch and ChildrenWatch share: read, deliver in order, re-read, stop.

    Subclasses give :meth:`_request` (the read, with the watch), :meth:`_absent` (what a
    missing node reads as) and :meth:`_changed` (decide whether and how to call the
    function); ``_idle`` is what a read of a stopped watch gives.
    """

    _watcher_type: int = WatcherType.ANY  # what stop() removes on the server

    _idle: Any = None

    def __init__(self, client: Any, path: str) -> None:
        validate_path(path)
        self._client = client
        self._path = path
        self._handler = client.handler
        self._lock = client.handler.lock_object()
        self._func: Callable[..., Any] | None = None
        self._stopped = False
        self._initialising = True
        self._backlog: deque[tuple[WatchedEvent | None, IAsyncResult[Any]]] = deque()
        self._pending: Any = _NOTHING

    # -- set-up ---------------------------------------------------------------------------

    def _attach(self, func: Callable[..., Any]) -> None:
        """Take ``func``, read the node and make the first call before returning."""
        if self._func is not None:
            raise KazooException("a function has already been associated with this watch")
        if not callable(func):
            raise TypeError("func must be callable")
        self._func = func
        self._client.add_listener(self._on_state)
        outcome = self._read(blocking=True)
        try:
            outcome.get()
        except BaseException:
            self.stop()
            raise
        self._process(None, outcome)
        with self._lock:
            self._initialising = False
            backlog = bool(self._backlog)
        if backlog:  # deliveries that came in meanwhile, in order, on the worker
            self._handler.dispatch_callback(Callback("watch", self._drain, ()))

    def stop(self) -> None:
        """Stop calling the function; nothing is read any more."""
        with self._lock:
            self._stopped = True
            self._backlog.clear()
            self._pending = _NOTHING
        self._client.remove_listener(self._on_state)
        self._client.remove_watch(self._path, self._on_watch, self._watcher_type)

    # -- reading --------------------------------------------------------------------------

    def _read(self, blocking: bool = False) -> IAsyncResult[Any]:
        outcome: IAsyncResult[Any] = self._handler.async_result()
        self._read_steps(_Read(outcome, blocking))
        return outcome

    def _read_steps(self, read: _Read) -> None:
        """Start (or restart) the asynchronous read chain that settles ``read.outcome``."""
        if self._stopped:
            read.outcome.set(self._idle)
            return
        read.then(self._request(), functools.partial(self._after_read, read))

    def _after_read(self, read: _Read, result: IAsyncResult[Any]) -> None:
        exc = result.exception
        if exc is None:
            read.outcome.set(result.value)
        elif isinstance(exc, NoNodeError):
            self._absent(read)
        elif uncertain(exc) and not self._stopped:
            self._read_steps(read)  # a dropped connection or a lost session: ask again
        else:
            read.outcome.set_exception(exc)

    def _request(self) -> IAsyncResult[Any]:
        raise NotImplementedError

    def _absent(self, read: _Read) -> None:
        raise NotImplementedError

    def _changed(self, event: WatchedEvent | None, value: Any) -> None:
        raise NotImplementedError

    def _refresh(self, event: WatchedEvent | None) -> None:
        """Read again; the outcome is delivered on the callback worker."""
        if self._stopped:
            return
        _when_set(self._read(), functools.partial(self._dispatch, event))

    def _dispatch(self, event: WatchedEvent | None, outcome: IAsyncResult[Any]) -> None:
        # I/O owner -> callback worker, keeping the order of the reads
        self._handler.dispatch_callback(Callback("watch", self._deliver, (event, outcome)))

    def _deliver(self, event: WatchedEvent | None, outcome: IAsyncResult[Any]) -> None:
        with self._lock:
            if self._stopped:
                return
            self._backlog.append((event, outcome))
            if self._initialising:
                return
        self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._stopped or not self._backlog:
                    return
                event, outcome = self._backlog.popleft()
            self._process(event, outcome)

    def _process(self, event: WatchedEvent | None, outcome: IAsyncResult[Any]) -> None:
        exc = outcome.exception
        if exc is None:
            self._changed(event, outcome.value)
        else:
            self._read_failed(event, exc)

    def _read_failed(self, event: WatchedEvent | None, exc: BaseException) -> None:
        """The client is stopped or the read was refused: read again once connected."""
        if not isinstance(exc, (ConnectionClosedError, AuthFailedError)):
            log.error("%s could not read %s: %r", type(self).__name__, self._path, exc)
        with self._lock:
            if self._stopped:
                return
            retry_now = self._client.connected and isinstance(exc, ConnectionClosedError)
            if not retry_now:
                self._pending = event  # picked up by _on_state at the next CONNECTED
        if retry_now:
            self._refresh(event)

    # -- callbacks ------------------------------------------------------------------------

    def _on_watch(self, event: WatchedEvent) -> None:
        if not self._stopped:
            self._refresh(event)

    # Run by the blocking I/O driver itself, not queued on the callback worker: it only
    # submits the next read (whose outcome is then delivered on the worker, in order).
    _on_watch._kazoo_inline = True  # type: ignore[attr-defined]

    def _on_state(self, state: KazooState) -> bool:
        if self._stopped:
            return True
        if state == KazooState.CONNECTED:
            with self._lock:
                event, self._pending = self._pending, _NOTHING
            if event is not _NOTHING:
                self._refresh(event)
        return False

    def _call(self, *args: Any) -> None:
        func = self._func
        if func is None or self._stopped:
            return
        try:
            result = func(*args)
        except Exception:
            log.exception("%s function for %s raised", type(self).__name__, self._path)
            return
        if result is False:
            self.stop()


class DataWatch(_OneShotWatch):
    """Call ``func(data, stat)`` (or ``func(data, stat, event)``) whenever a node changes.

    Called once before the constructor (or the decorator call) returns, then each time the
    node's ``mzxid`` changes, including its creation and deletion; ``(None, None)`` while
    the node does not exist, ``event`` ``None`` on the first call. The event is passed when
    ``func`` accepts a third positional argument. Survives reconnects and session loss
    (the node is read again on the new session). ``func`` returning ``False`` stops it, as
    does :meth:`stop`.

    Usable as a decorator: ``@client.DataWatch("/path")``.
    """

    _watcher_type = WatcherType.DATA

    def __init__(
        self,
        client: Any,
        path: str,
        func: Callable[..., Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if args or kwargs:
            warnings.warn(
                "DataWatch no longer takes extra arguments; they are ignored",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(client, path)
        self._with_event = False
        self._called = False
        self._last_mzxid: int | None = None
        if func is not None:
            self(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Attach ``func`` (decorator use); a second function raises ``KazooException``."""
        if self._func is None and callable(func):
            self._with_event = _accepts_positional(func, 3)
        self._attach(func)
        return func

    _idle = (None, None)

    def _request(self) -> IAsyncResult[Any]:
        return self._client.get_async(self._path, watch=self._on_watch)

    def _absent(self, read: _Read) -> None:
        found = self._client.exists_async(self._path, watch=self._on_watch)
        read.then(found, functools.partial(self._after_exists, read))

    def _after_exists(self, read: _Read, result: IAsyncResult[Any]) -> None:
        exc = result.exception
        if exc is None and result.value is None:
            read.outcome.set((None, None))  # absent: the exists watch tells us about its creation
        elif exc is None or (uncertain(exc) and not self._stopped):
            self._read_steps(read)  # created meanwhile, or ask again
        else:
            read.outcome.set_exception(exc)

    def _changed(self, event: WatchedEvent | None, value: Any) -> None:
        data, stat = value
        mzxid = stat.mzxid if stat is not None else None
        if self._called and mzxid == self._last_mzxid:
            return
        self._called = True
        self._last_mzxid = mzxid
        if self._with_event:
            self._call(data, stat, event)
        else:
            self._call(data, stat)


class ChildrenWatch(_OneShotWatch):
    """Call ``func(children)`` (``func(children, event)`` with ``send_event``) on changes.

    Called at once and then on every change of the node's child list. Stops for good when
    the node does not exist or is deleted, when ``func`` returns ``False``, on :meth:`stop`,
    or when the session is lost if ``allow_session_lost`` is false (otherwise the list is
    read again on the new session and ``func`` called if it differs).

    Usable as a decorator: ``@client.ChildrenWatch("/path")``.
    """

    _watcher_type = WatcherType.CHILDREN

    def __init__(
        self,
        client: Any,
        path: str,
        func: Callable[..., Any] | None = None,
        allow_session_lost: bool = True,
        send_event: bool = False,
    ) -> None:
        super().__init__(client, path)
        self._allow_session_lost = allow_session_lost
        self._send_event = send_event
        self._called = False
        self._last: list[str] | None = None
        if func is not None:
            self(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Attach ``func`` (decorator use); a second function raises ``KazooException``."""
        self._attach(func)
        return func

    def _request(self) -> IAsyncResult[Any]:
        return self._client.get_children_async(self._path, watch=self._on_watch)

    def _absent(self, read: _Read) -> None:
        read.outcome.set(None)  # no node: the watch ends

    def _on_watch(self, event: WatchedEvent) -> None:
        if event.type == EventType.DELETED:
            self.stop()
        elif event.type == EventType.NONE and not self._allow_session_lost:
            self.stop()
        else:
            super()._on_watch(event)

    def _on_state(self, state: KazooState) -> bool:
        if state == KazooState.LOST and not self._allow_session_lost:
            self.stop()
            return True
        return super()._on_state(state)

    def _changed(self, event: WatchedEvent | None, value: Any) -> None:
        if value is None:
            self.stop()
            return
        children = list(value)
        if event is not None and event.type != EventType.CHILD:
            if self._called and sorted(children) == self._last:
                return  # a re-read after a lost session found nothing new
        self._called = True
        self._last = sorted(children)
        if self._send_event:
            self._call(children, event)
        else:
            self._call(children)


class PatientChildrenWatch:
    """Wait until a node's child list has stopped changing for ``time_boundary`` seconds.

    :meth:`start` returns an ``IAsyncResult`` that is set to ``(children, async_result)``
    once the list has been stable that long; the inner ``async_result`` is set to a
    ``time.monotonic()`` timestamp at the next change after that (or when the session is
    lost, since the watch is then gone). A failed read (e.g. ``NoNodeError``) is set as the
    outer result's exception.
    """

    def __init__(self, client: Any, path: str, time_boundary: float = 30) -> None:
        validate_path(path)
        self.client = client
        self.path = path
        self.time_boundary = time_boundary

    def start(self) -> IAsyncResult[Any]:
        """Begin watching; the result described in the class documentation."""
        asy: IAsyncResult[Any] = self.client.handler.async_result()
        self.client.handler.spawn(self._run, asy)
        return asy

    def _run(self, asy: IAsyncResult[Any]) -> None:
        try:
            while True:
                changed = self.client.handler.async_result()
                children = self.client.retry(
                    self.client.get_children,
                    self.path,
                    watch=functools.partial(self._on_change, changed),
                )
                if not changed.wait(self.time_boundary):
                    asy.set((children, changed))
                    return
        except Exception as exc:
            asy.set_exception(exc)

    @staticmethod
    def _on_change(changed: IAsyncResult[Any], event: WatchedEvent) -> None:
        changed.set(time.monotonic())
