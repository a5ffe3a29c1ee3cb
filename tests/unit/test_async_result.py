"""AsyncResult (kazoo.handlers.utils base, threading flavour): API.md sections 2.7 and 3.5."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kazoo.exceptions import NoNodeError
from kazoo.handlers import utils
from kazoo.handlers.threading import AsyncResult, KazooTimeoutError, SequentialThreadingHandler
from kazoo.interfaces import IAsyncResult

WAIT = 5.0  # bound on every wait that should succeed


@pytest.fixture
def handler() -> Iterator[SequentialThreadingHandler]:
    handler = SequentialThreadingHandler()
    handler.start()
    yield handler
    handler.stop()


def drain(handler: SequentialThreadingHandler) -> None:
    """Wait until everything queued so far on the completion worker has run."""
    done = threading.Event()
    handler.completion_queue.put(done.set)
    assert done.wait(WAIT)


def test_is_an_iasyncresult(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    assert isinstance(result, AsyncResult)
    assert isinstance(result, utils.AsyncResult)
    assert isinstance(result, IAsyncResult)


def test_initial_state(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    assert result.value is None and result.exception is None
    assert not result.ready() and not result.successful()
    assert "pending" in repr(result)


def test_set_and_get(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    result.set(b"secret-data")
    assert result.ready() and result.successful()
    assert result.get() == b"secret-data"
    assert result.get_nowait() == b"secret-data"
    assert result.get(block=False) == b"secret-data"
    assert result.value == b"secret-data"
    assert result.wait(0) is True
    assert "secret" not in repr(result)


def test_set_none_is_ready(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    result.set()
    assert result.ready() and result.successful()
    assert result.get(timeout=0) is None


def test_exception_propagates(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    error = NoNodeError("/x")
    result.set_exception(error)
    assert result.ready() and not result.successful()
    assert result.exception is error
    assert result.value is None
    for _ in range(2):
        with pytest.raises(NoNodeError) as info:
            result.get()
        assert info.value is error
    assert "NoNodeError" in repr(result)


def test_first_set_wins(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    result.set(1)
    result.set(2)
    result.set_exception(ValueError())
    assert result.get() == 1
    other = handler.async_result()
    other.set_exception(KeyError("k"))
    other.set(3)
    with pytest.raises(KeyError):
        other.get()


def test_get_with_timeout_raises_kazoo_timeout_error(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    with pytest.raises(KazooTimeoutError):
        result.get(timeout=0.01)
    with pytest.raises(KazooTimeoutError):
        result.get(timeout=-1)
    assert handler.timeout_exception is KazooTimeoutError


def test_non_blocking_get_raises_at_once(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    with pytest.raises(KazooTimeoutError):
        result.get(block=False)
    with pytest.raises(KazooTimeoutError):
        result.get_nowait()


def test_wait_with_timeout(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    assert result.wait(0.01) is False
    result.set(1)
    assert result.wait() is True


def test_set_from_another_thread_wakes_a_waiter(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    got: list[Any] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        got.append(result.get(timeout=WAIT))

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert waiting.wait(WAIT)
    result.set("v")
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert got == ["v", "v", "v"]


def test_rawlink_runs_once_on_the_completion_worker(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    calls: list[tuple[Any, str]] = []
    ran = threading.Event()

    def callback(res: Any) -> None:
        calls.append((res, threading.current_thread().name))
        ran.set()

    result.rawlink(callback)
    assert calls == []
    result.set(5)
    assert ran.wait(WAIT)
    drain(handler)
    assert calls == [(result, "kazoo-completion-worker")]


def test_rawlink_after_ready_runs_once(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    result.set(5)
    calls: list[Any] = []
    result.rawlink(calls.append)
    drain(handler)
    assert calls == [result]


def test_same_callback_twice_runs_once(handler: SequentialThreadingHandler) -> None:
    calls: list[Any] = []
    before = handler.async_result()
    before.rawlink(calls.append)
    before.rawlink(calls.append)
    before.set(1)
    after = handler.async_result()
    after.set(2)
    after.rawlink(calls.append)
    after.rawlink(calls.append)
    drain(handler)
    assert calls == [before, after]


def test_unlink(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    unlinked: list[Any] = []
    kept: list[Any] = []
    result.rawlink(unlinked.append)
    result.rawlink(kept.append)
    result.unlink(unlinked.append)
    result.unlink(lambda res: None)  # not linked: no error
    result.set(1)
    drain(handler)
    assert unlinked == [] and kept == [result]


def test_callbacks_run_in_link_order_and_see_exceptions(
    handler: SequentialThreadingHandler,
) -> None:
    result = handler.async_result()
    seen: list[Any] = []
    result.rawlink(lambda res: seen.append(("first", res.successful())))
    result.rawlink(lambda res: seen.append(("second", res.exception)))
    error = RuntimeError("boom")
    result.set_exception(error)
    drain(handler)
    assert seen == [("first", False), ("second", error)]


def test_rawlink_on_a_stopped_handler_runs_after_start() -> None:
    handler = SequentialThreadingHandler()
    result = handler.async_result()
    calls: list[Any] = []
    result.rawlink(calls.append)
    result.set(1)
    handler.start()
    try:
        drain(handler)
    finally:
        handler.stop()
    assert calls == [result]


# -- decorators ----------------------------------------------------------------------------


def test_capture_exceptions(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()

    @utils.capture_exceptions(result)
    def ok(a: int, b: int = 0) -> int:
        return a + b

    @utils.capture_exceptions(result)
    def fails() -> None:
        raise NoNodeError()

    assert ok.__name__ == "ok"
    assert ok(1, b=2) == 3
    assert not result.ready()
    assert fails() is None
    with pytest.raises(NoNodeError):
        result.get(block=False)


def test_wrap(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()

    @utils.wrap(result)
    def returns(value: Any) -> Any:
        return value

    assert returns(None) is None
    assert not result.ready()
    assert returns(7) == 7
    assert result.get(block=False) == 7

    failed = handler.async_result()

    @utils.wrap(failed)
    def raises() -> None:
        raise KeyError("k")

    raises()
    with pytest.raises(KeyError):
        failed.get(block=False)


# -- asyncio -------------------------------------------------------------------------------


def test_await_ready_result_returns_at_once(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    result.set("v")
    failed = handler.async_result()
    failed.set_exception(NoNodeError())

    async def main() -> Any:
        value = await result
        with pytest.raises(NoNodeError):
            await failed
        return value

    assert asyncio.run(main()) == "v"


def test_await_does_not_block_the_loop(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()
    ticked = threading.Event()

    def setter() -> None:
        # Only set once the loop has shown it keeps running while the result is awaited.
        if ticked.wait(WAIT):
            result.set("from-thread")

    async def ticker(counter: list[int]) -> None:
        while True:
            counter[0] += 1
            if counter[0] == 10:
                ticked.set()
            await asyncio.sleep(0)

    async def main() -> tuple[Any, int]:
        counter = [0]
        task = asyncio.create_task(ticker(counter))
        thread = threading.Thread(target=setter)
        thread.start()
        try:
            value = await asyncio.wait_for(result, WAIT)
        finally:
            task.cancel()
            thread.join(WAIT)
        return value, counter[0]

    value, ticks = asyncio.run(main())
    assert value == "from-thread"
    assert ticks >= 10


def test_await_exception_set_from_a_thread(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()

    async def main() -> None:
        waiting = asyncio.Event()

        async def awaiter() -> Any:
            waiting.set()
            return await result

        task = asyncio.create_task(awaiter())
        await waiting.wait()
        threading.Thread(target=result.set_exception, args=(NoNodeError(),)).start()
        with pytest.raises(NoNodeError):
            await asyncio.wait_for(task, WAIT)

    asyncio.run(main())


def test_cancelling_the_awaiting_task_leaves_the_result_usable(
    handler: SequentialThreadingHandler,
) -> None:
    result = handler.async_result()

    async def main() -> Any:
        started = asyncio.Event()

        async def awaiter() -> Any:
            started.set()
            return await result

        task = asyncio.create_task(awaiter())
        await started.wait()  # the task is now suspended in ``await result``
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not result.ready()
        setter = threading.Thread(target=result.set, args=("later",))
        setter.start()
        setter.join(WAIT)
        value = await asyncio.wait_for(result, WAIT)
        return value

    assert asyncio.run(main()) == "later"
    assert result.get(timeout=0) == "later"


def test_setting_after_the_awaiting_loop_closed_is_harmless(
    handler: SequentialThreadingHandler,
) -> None:
    result = handler.async_result()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(result, 0.01)

    asyncio.run(main())
    result.set(1)  # the loop is closed: the hand-over is dropped quietly
    assert result.get(timeout=0) == 1


def test_many_awaiters_on_one_result(handler: SequentialThreadingHandler) -> None:
    result = handler.async_result()

    async def main() -> list[Any]:
        async def awaiter() -> Any:
            return await result

        tasks = [asyncio.create_task(awaiter()) for _ in range(5)]
        await asyncio.sleep(0)
        threading.Thread(target=result.set, args=(9,)).start()
        return await asyncio.wait_for(asyncio.gather(*tasks), WAIT)

    assert asyncio.run(main()) == [9] * 5


def test_an_awaiter_that_gives_up_leaves_no_hook_behind(
    handler: SequentialThreadingHandler,
) -> None:
    result = handler.async_result()

    async def main() -> None:
        for _ in range(20):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(result, 0.001)

    asyncio.run(main())
    assert not result._waiters  # repeated timeouts do not pile hand-over hooks up
    result.set(3)
    assert result.get(timeout=0) == 3
