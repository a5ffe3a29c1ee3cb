"""One source for every recipe: algorithms as generators, run by a blocking or an async runner.

A recipe's algorithm is a generator method decorated with :func:`op`. It never talks to the
client directly when that would block; it *yields* a command and receives the result:

``yield Call(fn, *args, **kwargs)``
    ``fn(*args, **kwargs)``: a public client method (``client.create``, ``client.retry``,
    ``transaction.commit``, ...). The async runner awaits the result when it is awaitable,
    so the same line serves :class:`~kazoo.client.KazooClient` and
    :class:`~kazoo.aio.AsyncKazooClient`. Exceptions are thrown back into the generator.
    ``Call.within(limit, fn, ...)`` stops waiting for the reply after ``limit`` seconds.
``yield Together(call, call, ...)``
    make several :class:`Call` requests back to back, without waiting for a reply in
    between (the server runs one session's requests in order, so a read after a write sees
    it): one round trip instead of several. The result is a list with an :class:`Outcome`
    per call, in order; nothing is thrown.
``yield Wait(event, timeout)``
    ``True`` once ``event`` (made by :meth:`Flavor.event`) is set, ``False`` after
    ``timeout`` seconds (``None``: no limit).
``yield Sleep(seconds)``
    pause without blocking other work of the flavour.
``yield Acquire(mutex, timeout)``
    take a mutex made by :meth:`Flavor.mutex` (``True``) or give up after ``timeout``
    (``False``); release it with ``mutex.release()``.

Plain, non-blocking client methods (``add_listener``, ``transaction()``, properties) are
called directly. Watch callbacks and listeners may set events: with a blocking client they run
on the handler's callback worker, with the asyncio client on the loop, and both flavours'
events accept that.

A recipe class is written once (``class _LockCore``) and combined with :class:`Blocking` or
:class:`Async` (``class Lock(_LockCore, Blocking)``, ``class AsyncLock(_LockCore, Async)``);
each :func:`op` method then becomes a blocking method or a coroutine method of the same name.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Generator
from typing import Any, Callable, TypeVar

from kazoo.exceptions import ConnectionLoss

__all__ = [
    "Acquire",
    "Async",
    "Blocking",
    "Call",
    "Outcome",
    "Sleep",
    "Together",
    "Wait",
    "op",
    "run_async",
    "run_blocking",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
Steps = Generator[Any, Any, T]


class Call:
    """Command: call ``fn(*args, **kwargs)`` (awaited by the async runner when awaitable)."""

    __slots__ = ("fn", "args", "kwargs", "limit")

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.limit: float | None = None

    @classmethod
    def within(cls, limit: float | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
        """Like ``Call(fn, ...)``, but the wait for the reply ends after ``limit`` seconds
        (``None``: no limit) with ``ConnectionLoss`` -- the request's fate is then unknown.

        For a request sent just as the connection drops, which the client holds until it
        reconnects or the session ends: a recipe's time budget must not wait for that. With
        a blocking client ``fn`` must be a client method with an ``*_async`` twin (without
        one the call is not limited).
        """
        call = cls(fn, *args, **kwargs)
        call.limit = None if limit is None else max(0.0, limit)
        return call

    def __repr__(self) -> str:
        return f"Call({getattr(self.fn, '__qualname__', self.fn)!r})"


class Outcome:
    """What one call of a :class:`Together` came to: ``value``, or the ``error`` it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error

    def get(self) -> Any:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value


class Together:
    """Command: the calls go out back to back; the result is their :class:`Outcome` list."""

    __slots__ = ("calls",)

    def __init__(self, *calls: Call) -> None:
        self.calls = calls


class Wait:
    """Command: wait for ``event``; the result is whether it was set within ``timeout``."""

    __slots__ = ("event", "timeout")

    def __init__(self, event: Any, timeout: float | None) -> None:
        self.event = event
        self.timeout = None if timeout is None else max(0.0, timeout)


class Sleep:
    """Command: pause for ``seconds``."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, seconds)


class Acquire:
    """Command: take ``mutex``; the result is ``False`` if ``timeout`` ran out first."""

    __slots__ = ("mutex", "timeout")

    def __init__(self, mutex: Any, timeout: float | None) -> None:
        self.mutex = mutex
        self.timeout = None if timeout is None else max(0.0, timeout)


def _bad_command(command: Any) -> TypeError:
    return TypeError(f"a recipe yielded {command!r}, which is not a runtime command")


# -- the two runners ------------------------------------------------------------------------


def _resume(steps: Steps[Any], send: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Hand the algorithm the result of its last command (or its error): ``(False, next
    command)``, or ``(True, return value)`` once it has finished."""
    try:
        if error is not None:
            return False, steps.throw(error)
        return False, steps.send(send)
    except StopIteration as stop:
        return True, stop.value


def run_blocking(handler: Any, steps: Steps[T]) -> T:
    """Run ``steps`` to completion in the calling thread (or greenlet)."""
    send: Any = None
    error: BaseException | None = None
    while True:
        done, command = _resume(steps, send, error)
        if done:
            return command
        send = error = None
        try:
            send = _blocking_step(handler, command)
        except Exception as exc:  # noqa: BLE001 - handed to the algorithm, which decides
            error = exc
        finally:
            command = None


def _no_reply(command: Call) -> ConnectionLoss:
    name = getattr(command.fn, "__name__", command.fn)
    return ConnectionLoss(f"no reply to {name} within the time budget")


def _async_twin(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """``client.get_children_async`` for ``client.get_children`` (None without one)."""
    return getattr(getattr(fn, "__self__", None), f"{getattr(fn, '__name__', '')}_async", None)


def _blocking_call(command: Call) -> Any:
    fn = command.fn
    if command.limit is not None:
        twin = _async_twin(fn)
        if twin is not None:
            result = twin(*command.args, **command.kwargs)
            if not result.wait(command.limit):
                raise _no_reply(command)
            return result.get()
    return fn(*command.args, **command.kwargs)


def _blocking_together(command: Together) -> list[Outcome]:
    started: list[tuple[Call, Any]] = []
    for call in command.calls:  # all sent before any reply is waited for
        twin = _async_twin(call.fn)
        try:
            if twin is None:  # nothing to overlap: an ordinary call, in its turn
                started.append((call, Outcome(call.fn(*call.args, **call.kwargs))))
            else:
                started.append((call, twin(*call.args, **call.kwargs)))
        except Exception as exc:  # noqa: BLE001 - an outcome, like a failed reply
            started.append((call, Outcome(None, exc)))
    outcomes = []
    for call, result in started:
        if type(result) is Outcome:
            outcomes.append(result)
        elif not result.wait(call.limit):
            outcomes.append(Outcome(None, _no_reply(call)))
        else:
            try:
                outcomes.append(Outcome(result.get()))
            except Exception as exc:  # noqa: BLE001
                outcomes.append(Outcome(None, exc))
    return outcomes


def _blocking_step(handler: Any, command: Any) -> Any:
    kind = type(command)
    if kind is Call:
        return _blocking_call(command)
    if kind is Together:
        return _blocking_together(command)
    if kind is Wait:
        return bool(command.event.wait(command.timeout))
    if kind is Sleep:
        handler.sleep_func(command.seconds)
        return None
    if kind is Acquire:
        if command.timeout is None:
            return bool(command.mutex.acquire())
        return bool(command.mutex.acquire(True, command.timeout))
    raise _bad_command(command)


async def run_async(steps: Steps[T]) -> T:
    """Run ``steps`` as a coroutine on the running loop.

    Cancelling the awaiting task throws :class:`asyncio.CancelledError` into the algorithm,
    which may still run clean-up steps; the cancellation is re-raised afterwards even if the
    algorithm swallowed it.
    """
    send: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    while True:
        done, command = _resume(steps, send, error)
        if done:
            if cancelled is not None:
                raise cancelled from None
            return command
        send = error = None
        try:
            send = await _async_step(command)
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
            error = exc
        except Exception as exc:  # noqa: BLE001 - handed to the algorithm, which decides
            error = exc
        finally:
            command = None


async def _async_step(command: Any) -> Any:
    kind = type(command)
    if kind is Call:
        result = command.fn(*command.args, **command.kwargs)
        if not inspect.isawaitable(result):
            return result
        if command.limit is None:
            return await result
        try:
            return await asyncio.wait_for(result, command.limit)
        except asyncio.TimeoutError:
            raise _no_reply(command) from None
    if kind is Together:
        return await _async_together(command)
    if kind is Wait:
        return await _within(command.event.wait(), command.timeout)
    if kind is Sleep:
        await asyncio.sleep(command.seconds)
        return None
    if kind is Acquire:
        return await _within(command.mutex.acquire(), command.timeout)
    raise _bad_command(command)


async def _async_together(command: Together) -> list[Outcome]:
    # Each call becomes a task at once; tasks take their first step in the order they were
    # made, and a client coroutine submits its request in its first step.
    pending: list[tuple[Call, Any]] = []
    for call in command.calls:
        try:
            result = call.fn(*call.args, **call.kwargs)
        except Exception as exc:  # noqa: BLE001 - an outcome, like a failed reply
            pending.append((call, Outcome(None, exc)))
            continue
        if inspect.isawaitable(result):
            pending.append((call, asyncio.ensure_future(result)))
        else:
            pending.append((call, Outcome(result)))
    outcomes = []
    for call, started in pending:
        if type(started) is Outcome:
            outcomes.append(started)
            continue
        try:
            if call.limit is None:
                value = await started
            else:
                value = await asyncio.wait_for(started, call.limit)
        except asyncio.TimeoutError:
            outcomes.append(Outcome(None, _no_reply(call)))
        except asyncio.CancelledError:
            for _call, other in pending:  # cancelled from outside: take the others along
                if type(other) is not Outcome:
                    other.cancel()
            raise
        except Exception as exc:  # noqa: BLE001
            outcomes.append(Outcome(None, exc))
        else:
            outcomes.append(Outcome(value))
    return outcomes


async def _within(awaitable: Any, timeout: float | None) -> bool:
    if timeout is None:
        await awaitable
        return True
    try:
        await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        return False
    return True


# -- flavours -------------------------------------------------------------------------------


class Blocking:
    """Mixin: :func:`op` methods block; primitives come from ``client.handler``."""

    client: Any
    is_async = False

    def _run(self, steps: Steps[T]) -> T:
        return run_blocking(self.client.handler, steps)

    def _event(self) -> Any:
        return self.client.handler.event_object()

    def _mutex(self) -> Any:
        return self.client.handler.lock_object()

    def _spawn(self, steps: Steps[Any]) -> None:
        """Run ``steps`` in the background (a handler thread or greenlet); errors are logged."""
        self.client.handler.spawn(_logged, run_blocking, self.client.handler, steps)

    @staticmethod
    def _check_client(client: Any) -> None:
        if inspect.iscoroutinefunction(getattr(client, "create", None)):
            raise TypeError(
                "this recipe class is for KazooClient; with AsyncKazooClient use its factory "
                "(zk.Lock(...)) or the Async* class"
            )


class Async:
    """Mixin: :func:`op` methods are coroutines; primitives are :mod:`asyncio`'s."""

    client: Any
    is_async = True

    def _run(self, steps: Steps[T]) -> Any:
        return run_async(steps)

    def _event(self) -> asyncio.Event:
        return asyncio.Event()

    def _mutex(self) -> asyncio.Lock:
        return asyncio.Lock()

    def _spawn(self, steps: Steps[Any]) -> None:
        """Run ``steps`` as a task of the running loop; errors are logged."""
        task = asyncio.ensure_future(_logged_async(steps))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    @staticmethod
    def _check_client(client: Any) -> None:
        if not inspect.iscoroutinefunction(getattr(client, "create", None)):
            raise TypeError(
                "this recipe class is for AsyncKazooClient; with KazooClient use its factory "
                "(zk.Lock(...)) or the blocking class"
            )


_BACKGROUND: set[asyncio.Future[Any]] = set()


def _logged(run: Callable[..., Any], *args: Any) -> None:
    try:
        run(*args)
    except Exception:  # noqa: BLE001 - a background check must not kill its worker
        log.exception("recipe background step failed")


async def _logged_async(steps: Steps[Any]) -> None:
    try:
        await run_async(steps)
    except Exception:  # noqa: BLE001
        log.exception("recipe background step failed")


class _OpMethod:
    """Descriptor made by :func:`op`: binds the generator method to the flavour's runner."""

    def __init__(self, steps_fn: Callable[..., Steps[Any]]) -> None:
        self.steps_fn = steps_fn
        functools.update_wrapper(self, steps_fn)  # type: ignore[arg-type]

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        steps_fn = self.steps_fn

        @functools.wraps(steps_fn)
        def method(*args: Any, **kwargs: Any) -> Any:
            return obj._run(steps_fn(obj, *args, **kwargs))

        return method


def op(steps_fn: Callable[..., Steps[T]]) -> Any:
    """Mark a generator method as a recipe operation (blocking or coroutine by flavour)."""
    if not inspect.isgeneratorfunction(steps_fn):
        raise TypeError(f"@op needs a generator function, got {steps_fn!r}")
    return _OpMethod(steps_fn)
