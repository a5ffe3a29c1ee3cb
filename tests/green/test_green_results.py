"""The async results of the green handlers (API.md sections 2.7, 2.8 and the last paragraph
of 3.5), without monkey-patching: IAsyncResult semantics, callbacks on the completion
worker, and ``await`` from an asyncio loop running in another thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from kazoo.exceptions import NoNodeError
from kazoo.interfaces import IAsyncResult

from .conftest import WAIT, drain
from .flavours import Flavour, flavour

# -- values, exceptions, timeouts ------------------------------------------------------------


def test_is_an_iasyncresult_with_a_private_repr(handler: Any) -> None:
    result = handler.async_result()
    assert isinstance(result, IAsyncResult)
    assert result.value is None and result.exception is None
    assert not result.ready() and not result.successful()
    assert "pending" in repr(result)
    result.set(b"secret-data")
    assert result.ready() and result.successful()
    assert "secret" not in repr(result) and "secret" not in str(result)


def test_set_and_get(handler: Any) -> None:
    result = handler.async_result()
    result.set(b"v")
    assert result.get() == b"v"
    assert result.get_nowait() == b"v"
    assert result.get(block=False) == b"v"
    assert result.get(timeout=0) == b"v"
    assert result.value == b"v"
    assert result.wait(0) is True
    none = handler.async_result()
    none.set()
    assert none.ready() and none.successful() and none.get() is None


def test_exception_propagates(handler: Any) -> None:
    result = handler.async_result()
    error = NoNodeError("/x")
    result.set_exception(error)
    assert result.ready() and not result.successful()
    assert result.exception is error and result.value is None
    for _ in range(2):
        with pytest.raises(NoNodeError) as info:
            result.get()
        assert info.value is error
    assert "NoNodeError" in repr(result)


def test_first_set_wins(handler: Any) -> None:
    result = handler.async_result()
    result.set(1)
    result.set(2)
    result.set_exception(ValueError())
    assert result.get() == 1 and result.exception is None
    other = handler.async_result()
    other.set_exception(KeyError("k"))
    other.set(3)
    with pytest.raises(KeyError):
        other.get()
    assert other.value is None


def test_timeouts_raise_the_handler_timeout_exception(handler: Any) -> None:
    result = handler.async_result()
    for kwargs in ({"timeout": 0.01}, {"timeout": 0}, {"timeout": -1}, {"block": False}):
        began = time.monotonic()
        with pytest.raises(handler.timeout_exception, match="Timed out"):
            result.get(**kwargs)
        assert time.monotonic() - began < 1.0
    with pytest.raises(handler.timeout_exception):
        result.get_nowait()
    assert result.wait(0.01) is False
    assert result.wait(0) is False
    result.set(1)
    assert result.wait() is True


def test_set_from_another_greenlet_wakes_every_waiter(kind: Flavour, handler: Any) -> None:
    result = handler.async_result()
    got: list[Any] = []
    done = [kind.event() for _ in range(3)]

    def waiter(i: int) -> None:
        got.append(result.get(timeout=WAIT))
        done[i].set()

    for i in range(3):
        kind.spawn(waiter, i)
    kind.sleep(0.01)  # let the waiters block (not a synchronisation: set() wakes them)
    result.set("v")
    assert all(event.wait(WAIT) for event in done)
    assert got == ["v", "v", "v"]


def test_gevent_outer_timeouts_and_gevent_wait() -> None:
    kind = flavour("gevent")
    import gevent

    handler = kind.handler()
    handler.start()
    try:
        result = handler.async_result()
        with pytest.raises(gevent.Timeout) as info:
            with gevent.Timeout(0.01):  # the caller's own timeout is not converted
                result.get()
        assert not isinstance(info.value, handler.timeout_exception)
        kind.spawn(result.set, 7)
        assert gevent.wait([result], timeout=WAIT) == [result]  # links in the hub
        assert result.get(block=False) == 7
    finally:
        handler.stop()


# -- rawlink -----------------------------------------------------------------------------------


def test_rawlink_runs_once_on_the_completion_worker(kind: Flavour, handler: Any) -> None:
    import greenlet

    result = handler.async_result()
    calls: list[tuple[Any, Any]] = []
    result.rawlink(lambda res: calls.append((res, greenlet.getcurrent())))
    assert calls == []
    result.set(5)
    drain(kind, handler, "completion_queue")
    assert calls == [(result, handler.completion_queue.greenlet)]


def test_a_rawlink_callback_may_block(kind: Flavour, handler: Any) -> None:
    result, other = handler.async_result(), handler.async_result()
    got: list[Any] = []
    result.rawlink(lambda res: got.append(other.get(timeout=WAIT)))  # waits on the worker
    result.set(1)
    kind.spawn(other.set, 2)
    drain(kind, handler, "completion_queue")
    assert got == [2]


def test_rawlink_after_ready_and_twice(kind: Flavour, handler: Any) -> None:
    calls: list[Any] = []
    before = handler.async_result()
    before.rawlink(calls.append)
    before.rawlink(calls.append)
    before.set(1)
    after = handler.async_result()
    after.set(2)
    after.rawlink(calls.append)
    after.rawlink(calls.append)
    drain(kind, handler, "completion_queue")
    assert calls == [before, after]


def test_unlink(kind: Flavour, handler: Any) -> None:
    result = handler.async_result()
    unlinked: list[Any] = []
    kept: list[Any] = []
    result.rawlink(unlinked.append)
    result.rawlink(kept.append)
    result.unlink(unlinked.append)
    result.unlink(lambda res: None)  # not linked: no error
    result.set(1)
    drain(kind, handler, "completion_queue")
    assert unlinked == [] and kept == [result]


def test_callbacks_run_in_link_order_and_see_exceptions(kind: Flavour, handler: Any) -> None:
    result = handler.async_result()
    seen: list[Any] = []
    result.rawlink(lambda res: seen.append(("first", res.successful())))
    result.rawlink(lambda res: seen.append(("second", res.exception)))
    error = RuntimeError("boom")
    result.set_exception(error)
    drain(kind, handler, "completion_queue")
    assert seen == [("first", False), ("second", error)]


def test_rawlink_on_a_stopped_handler_runs_after_start(kind: Flavour) -> None:
    handler = kind.handler()
    result = handler.async_result()
    calls: list[Any] = []
    result.rawlink(calls.append)
    result.set(1)
    handler.start()
    try:
        drain(kind, handler, "completion_queue")
    finally:
        handler.stop()
    assert calls == [result]


# -- await from a loop in another thread -------------------------------------------------------


class LoopThread:
    """Runs ``coroutine_function(*args)`` with ``asyncio.run`` in a thread of its own."""

    def __init__(self, coroutine_function: Any, *args: Any) -> None:
        self.outcome: list[Any] = []
        self._thread = threading.Thread(
            target=self._run, args=(coroutine_function, args), daemon=True
        )
        self._thread.start()

    def _run(self, coroutine_function: Any, args: tuple[Any, ...]) -> None:
        try:
            self.outcome.append(("value", asyncio.run(coroutine_function(*args))))
        except BaseException as exc:  # handed to the test thread
            self.outcome.append(("error", exc))

    def join(self) -> Any:
        """The coroutine's return value (its exception is raised)."""
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the loop thread did not finish"
        kind, value = self.outcome[0]
        if kind == "error":
            raise value
        return value


def wait_for_awaiter(kind: Flavour, result: Any, count: int = 1) -> None:
    """Wait (green) until ``count`` coroutines have registered on ``result``."""
    deadline = time.monotonic() + WAIT
    while len(result._waiters or ()) < count:
        assert time.monotonic() < deadline, "no coroutine awaits the result"
        kind.sleep(0.001)


def test_await_from_a_loop_in_another_thread(kind: Flavour, handler: Any) -> None:
    result, failed = handler.async_result(), handler.async_result()

    async def main() -> tuple[Any, int]:
        ticks = [0]

        async def ticker() -> None:
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        value = await asyncio.wait_for(result, WAIT)
        with pytest.raises(NoNodeError):
            await asyncio.wait_for(failed, WAIT)
        task.cancel()
        return value, ticks[0]

    loop = LoopThread(main)
    wait_for_awaiter(kind, result)
    kind.sleep(0.05)  # the loop keeps running meanwhile (its ticker counts)
    result.set("from-the-hub")  # set in the hub's thread, handed over to the loop's
    wait_for_awaiter(kind, failed)
    failed.set_exception(NoNodeError())
    value, ticks = loop.join()
    assert value == "from-the-hub"
    assert ticks >= 10


def test_await_a_ready_result(handler: Any) -> None:
    result = handler.async_result()
    result.set("v")

    async def main() -> Any:
        return await result

    assert LoopThread(main).join() == "v"


def test_many_awaiters_and_a_cancelled_one(kind: Flavour, handler: Any) -> None:
    result = handler.async_result()

    async def main() -> list[Any]:
        async def awaiter() -> Any:
            return await result

        cancelled = asyncio.create_task(awaiter())
        await asyncio.sleep(0)  # it is now suspended in ``await result``
        cancelled.cancel()  # cancels the wait, not the result
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not result.ready()
        tasks = [asyncio.create_task(awaiter()) for _ in range(4)]
        return await asyncio.wait_for(asyncio.gather(*tasks), WAIT)

    loop = LoopThread(main)
    wait_for_awaiter(kind, result, count=4)
    assert len(result._waiters) == 4  # the cancelled awaiter took its hook away
    result.set(9)
    assert loop.join() == [9] * 4
    assert result.get(timeout=0) == 9


def test_setting_after_the_awaiting_loop_closed_is_harmless(handler: Any) -> None:
    result = handler.async_result()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(result, 0.01)

    LoopThread(main).join()
    result.set(1)  # the loop is closed: the hand-over is dropped quietly
    assert result.get(timeout=0) == 1


@pytest.mark.parametrize("kind_name", ["threading", "gevent", "eventlet"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_await_sees_a_result_set_while_it_registers(kind_name: str, when: str) -> None:
    """``set()`` racing with ``await``'s registration: set just before the hook is added
    (the setter never sees it) or just after (both paths fire); either way the awaiting
    coroutine gets the value, once."""
    kind = flavour(kind_name)
    handler = kind.handler()
    base = type(handler.async_result())

    def racy_add_waiter(self: Any, hook: Any) -> None:
        if when == "before":
            self.set("raced")
        base._add_waiter(self, hook)
        if when == "after":
            self.set("raced")

    racy = type("RacyResult", (base,), {"__slots__": (), "_add_waiter": racy_add_waiter})
    result = racy(handler)

    async def main() -> Any:
        return await asyncio.wait_for(result, WAIT)

    assert LoopThread(main).join() == "raced"
