"""The one-source recipe runtime: the same generator runs under both runners."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from kazoo.exceptions import NoNodeError
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.recipe._runtime import Acquire, Async, Blocking, Call, Sleep, Wait, op


class FakeBlockingClient:
    def __init__(self) -> None:
        self.handler = SequentialThreadingHandler()
        self.nodes: dict[str, bytes] = {}

    def create(self, path: str, value: bytes = b"") -> str:
        self.nodes[path] = value
        return path

    def get(self, path: str) -> bytes:
        try:
            return self.nodes[path]
        except KeyError:
            raise NoNodeError(path) from None


class FakeAsyncClient:
    def __init__(self) -> None:
        self.inner = FakeBlockingClient()

    async def create(self, path: str, value: bytes = b"") -> str:
        await asyncio.sleep(0)
        return self.inner.create(path, value)

    async def get(self, path: str) -> bytes:
        await asyncio.sleep(0)
        return self.inner.get(path)


class _Core:
    def __init__(self, client: object) -> None:
        self._check_client(client)  # type: ignore[attr-defined]
        self.client = client
        self.cleaned = False

    def _roundtrip(self, path: str):  # type: ignore[no-untyped-def]
        yield Call(self.client.create, path, b"v")  # type: ignore[attr-defined]
        try:
            yield Call(self.client.get, path + "/missing")  # type: ignore[attr-defined]
        except NoNodeError:
            pass
        data = yield Call(self.client.get, path)  # type: ignore[attr-defined]
        return data

    roundtrip = op(_roundtrip)

    @op
    def wait_then(self, timeout: float):  # type: ignore[no-untyped-def]
        event = self._event()  # type: ignore[attr-defined]
        got = yield Wait(event, timeout)
        event.set()
        again = yield Wait(event, None)
        yield Sleep(0)
        return got, again

    @op
    def guarded(self):  # type: ignore[no-untyped-def]
        mutex = self._mutex()  # type: ignore[attr-defined]
        first = yield Acquire(mutex, None)
        second = yield Acquire(mutex, 0.01)
        mutex.release()
        return first, second

    @op
    def cleanup_on_error(self, wait_forever: bool):  # type: ignore[no-untyped-def]
        event = self._event()  # type: ignore[attr-defined]
        try:
            if wait_forever:
                yield Wait(event, None)
            yield Call(self.client.get, "/nope")  # type: ignore[attr-defined]
        except BaseException:
            yield Call(self.client.create, "/cleanup")  # type: ignore[attr-defined]
            self.cleaned = True
            raise

    @op
    def bad(self):  # type: ignore[no-untyped-def]
        yield "not a command"


class BlockingThing(_Core, Blocking):
    pass


class AsyncThing(_Core, Async):
    pass


def test_blocking_runner_calls_waits_and_throws() -> None:
    thing = BlockingThing(FakeBlockingClient())
    assert thing.roundtrip("/a") == b"v"
    assert thing.wait_then(0.01) == (False, True)
    assert thing.guarded() == (True, False)
    with pytest.raises(NoNodeError):
        thing.cleanup_on_error(False)
    assert thing.cleaned and "/cleanup" in thing.client.nodes  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="not a runtime command"):
        thing.bad()


def test_async_runner_runs_the_same_source() -> None:
    async def main() -> None:
        thing = AsyncThing(FakeAsyncClient())
        assert await thing.roundtrip("/a") == b"v"
        assert await thing.wait_then(0.01) == (False, True)
        assert await thing.guarded() == (True, False)
        with pytest.raises(NoNodeError):
            await thing.cleanup_on_error(False)
        assert thing.cleaned
        with pytest.raises(TypeError, match="not a runtime command"):
            await thing.bad()

    asyncio.run(main())


def test_async_cancellation_runs_cleanup_and_propagates() -> None:
    async def main() -> None:
        client = FakeAsyncClient()
        thing = AsyncThing(client)
        task = asyncio.ensure_future(thing.cleanup_on_error(True))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert thing.cleaned and "/cleanup" in client.inner.nodes

    asyncio.run(main())


def test_async_cancellation_reraised_even_if_swallowed() -> None:
    class Swallow(Async):
        def __init__(self) -> None:
            self.client = FakeAsyncClient()

        @op
        def swallow(self):  # type: ignore[no-untyped-def]
            try:
                yield Wait(self._event(), None)
            except asyncio.CancelledError:
                return "swallowed"

    async def main() -> None:
        task = asyncio.ensure_future(Swallow().swallow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_flavour_checks_the_client_kind() -> None:
    with pytest.raises(TypeError, match="AsyncKazooClient"):
        BlockingThing(FakeAsyncClient())
    with pytest.raises(TypeError, match="for AsyncKazooClient"):
        AsyncThing(FakeBlockingClient())


def test_op_needs_a_generator() -> None:
    with pytest.raises(TypeError, match="generator"):
        op(lambda self: None)


def test_blocking_spawn_runs_in_background_and_logs_errors() -> None:
    thing = BlockingThing(FakeBlockingClient())
    done = threading.Event()
    logged = threading.Event()

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "background step failed" in record.getMessage():
                logged.set()

    def steps():  # type: ignore[no-untyped-def]
        yield Call(done.set)

    def failing():  # type: ignore[no-untyped-def]
        yield Call(thing.client.get, "/absent")  # type: ignore[attr-defined]

    catch = Catch()
    runtime_log = logging.getLogger("kazoo.recipe._runtime")
    runtime_log.addHandler(catch)
    try:
        thing._spawn(steps())
        assert done.wait(5)
        thing._spawn(failing())
        assert logged.wait(5), "a failing background step is logged"
    finally:
        runtime_log.removeHandler(catch)


class Replies:
    """A client method with an ``*_async`` twin whose replies the test hands out."""

    def __init__(self) -> None:
        self.handler = SequentialThreadingHandler()
        self.pending: list = []  # type: ignore[type-arg]

    def read_async(self, path: str):  # type: ignore[no-untyped-def]
        result = self.handler.async_result()
        self.pending.append(result)
        return result

    def read(self, path: str) -> bytes:
        return self.read_async(path).get()  # type: ignore[no-any-return]


def test_call_within_gives_up_waiting_with_connection_loss() -> None:
    from kazoo.exceptions import ConnectionLoss
    from kazoo.recipe._runtime import run_async, run_blocking

    client = Replies()

    def steps(limit):  # type: ignore[no-untyped-def]
        try:
            return (yield Call.within(limit, client.read, "/p"))
        except ConnectionLoss as exc:
            return exc

    outcome = run_blocking(client.handler, steps(0.05))
    assert isinstance(outcome, ConnectionLoss) and len(client.pending) == 1
    timer = threading.Timer(0.02, lambda: client.pending[-1].set(b"v"))
    timer.start()
    assert run_blocking(client.handler, steps(5.0)) == b"v"
    timer.join()
    assert Call.within(None, client.read, "/p").limit is None

    async def never() -> bytes:
        await asyncio.sleep(10)
        return b"x"

    async def quick() -> bytes:
        return b"q"

    def async_steps(fn):  # type: ignore[no-untyped-def]
        try:
            return (yield Call.within(0.05, fn))
        except ConnectionLoss as exc:
            return exc

    assert isinstance(asyncio.run(run_async(async_steps(never))), ConnectionLoss)
    assert asyncio.run(run_async(async_steps(quick))) == b"q"


def test_together_sends_every_call_before_waiting_for_a_reply() -> None:
    from kazoo.exceptions import ConnectionLoss
    from kazoo.recipe._runtime import Together, run_blocking

    client = Replies()
    both_sent = threading.Event()
    original = client.read_async

    def read_async(path: str):  # type: ignore[no-untyped-def]
        result = original(path)
        if len(client.pending) == 2:
            both_sent.set()
        return result

    client.read_async = read_async  # type: ignore[method-assign]

    def steps():  # type: ignore[no-untyped-def]
        return (
            yield Together(
                Call.within(5.0, client.read, "/a"),
                Call.within(5.0, client.read, "/b"),
                Call(lambda: "plain"),  # no *_async twin: called in its turn
                Call.within(0.05, client.read, "/never"),
            )
        )

    out: list = []  # type: ignore[type-arg]
    runner = threading.Thread(target=lambda: out.append(run_blocking(client.handler, steps())))
    runner.start()
    # No reply is given until both requests are out: a runner that waited for the first
    # reply before sending the second would never get here.
    assert both_sent.wait(5)
    client.pending[0].set_exception(NoNodeError("/a"))
    client.pending[1].set(b"b")
    runner.join(5)
    first, second, plain, late = out[0]
    assert isinstance(first.error, NoNodeError) and first.value is None
    with pytest.raises(NoNodeError):
        first.get()
    assert second.get() == b"b" and plain.get() == "plain"
    assert isinstance(late.error, ConnectionLoss)


def test_together_starts_every_coroutine_before_awaiting_one() -> None:
    from kazoo.recipe._runtime import Together, run_async

    async def scenario() -> list:  # type: ignore[type-arg]
        second_started = asyncio.Event()

        async def first() -> str:
            await second_started.wait()  # only the second call can let this one finish
            return "one"

        async def second() -> str:
            second_started.set()
            raise NoNodeError("/b")

        def steps():  # type: ignore[no-untyped-def]
            return (yield Together(Call.within(5.0, first), Call(second), Call(lambda: 3)))

        return await asyncio.wait_for(run_async(steps()), 5)  # type: ignore[no-any-return]

    one, two, three = asyncio.run(scenario())
    assert one.get() == "one" and three.get() == 3
    assert isinstance(two.error, NoNodeError)
