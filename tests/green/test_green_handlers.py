"""SequentialGeventHandler and SequentialEventletHandler without monkey-patching (API.md
sections 2.7 and 2.8): attributes, workers, primitives, sockets, and a hub that keeps
running while the handler waits."""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable
from unittest import mock

import pytest

from kazoo.exceptions import ConfigurationError
from kazoo.handlers import _green
from kazoo.interfaces import IHandler
from kazoo.protocol.states import Callback

from .conftest import WAIT, drain
from .flavours import Flavour, flavour

# -- attributes --------------------------------------------------------------------------------


def test_class_attributes(kind: Flavour) -> None:
    handler = kind.handler()
    if kind.name == "gevent":
        import gevent
        import gevent.queue

        from kazoo.handlers.gevent import SequentialGeventHandler

        assert type(handler) is SequentialGeventHandler
        assert handler.name == "sequential_gevent_handler"
        assert handler.sleep_func is gevent.sleep
        assert handler.queue_impl is gevent.queue.Queue
        assert handler.queue_empty is gevent.queue.Empty
        assert issubclass(handler.timeout_exception, gevent.Timeout)
        assert handler.timeout_exception.__qualname__ == "SequentialGeventHandler.timeout_exception"
    else:
        import eventlet
        import eventlet.queue

        from kazoo.handlers import eventlet as eventlet_handler

        assert type(handler) is eventlet_handler.SequentialEventletHandler
        assert handler.name == "sequential_eventlet_handler"
        assert handler.sleep_func is eventlet.sleep
        assert handler.queue_impl is eventlet.queue.Queue
        assert handler.queue_empty is eventlet.queue.Empty
        assert handler.timeout_exception is eventlet_handler.TimeoutError
        assert issubclass(eventlet_handler.TimeoutError, Exception)


def test_timeout_exception_is_built_from_a_message(kind: Flavour) -> None:
    handler = kind.handler()
    error = handler.timeout_exception("Connection time-out")
    assert str(error) == "Connection time-out"
    assert "Connection time-out" in repr(error)
    with pytest.raises(handler.timeout_exception, match="Connection time-out"):
        raise error


def test_gevent_timeout_exception_is_never_a_running_timer() -> None:
    kind = flavour("gevent")
    handler = kind.handler()
    error = handler.timeout_exception("x")
    assert error.seconds is None
    assert not error.pending
    kind.sleep(0.01)  # nothing fires into this greenlet


def test_satisfies_the_handler_interface(kind: Flavour) -> None:
    assert isinstance(kind.handler(), IHandler)


# -- workers ---------------------------------------------------------------------------------


def test_start_stop_idempotent_and_the_workers_end(kind: Flavour) -> None:
    kind.hub()
    before = kind.live_greenlets()
    handler = kind.handler()
    assert not handler.running
    handler.stop()  # stopping a handler that never ran is a no-op
    handler.start()
    handler.start()
    assert handler.running
    assert "running" in repr(handler)
    assert kind.live_greenlets() == before  # no worker until there is a callback
    assert handler._workers == ()
    drain(kind, handler)
    drain(kind, handler, "completion_queue")
    assert kind.live_greenlets() == before + 2
    workers = handler._workers
    assert len(workers) == 2
    handler.stop()
    handler.stop()
    assert not handler.running
    assert all(worker.dead for worker in workers)
    assert kind.live_greenlets() == before
    assert "stopped" in repr(handler)


def test_callbacks_run_in_order_on_one_worker(kind: Flavour, handler: Any) -> None:
    import greenlet

    seen: list[tuple[int, Any]] = []
    for i in range(200):
        handler.dispatch_callback(
            Callback("watch", lambda i: seen.append((i, greenlet.getcurrent())), (i,))
        )
    drain(kind, handler)
    assert [i for i, _ in seen] == list(range(200))
    assert {current for _, current in seen} == {handler.callback_queue.greenlet}


def test_callback_receives_all_args(kind: Flavour, handler: Any) -> None:
    got: list[tuple[Any, ...]] = []
    handler.dispatch_callback(Callback("watch", lambda *a: got.append(a), (1, "b", None)))
    drain(kind, handler)
    assert got == [(1, "b", None)]


def test_exception_in_a_callback_is_logged_and_the_next_runs(
    kind: Flavour, handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def explode(secret: str) -> None:
        raise RuntimeError("boom")

    logger = f"kazoo.handlers.{kind.name}"
    with caplog.at_level(logging.ERROR, logger=logger):
        handler.dispatch_callback(Callback("watch", explode, ("hunter2",)))
        handler.dispatch_callback(Callback("watch", seen.append, ("next",)))
        handler.completion_queue.put(explode)  # wrong arity: TypeError, logged too
        drain(kind, handler)
        drain(kind, handler, "completion_queue")
    assert seen == ["next"]
    records = [r for r in caplog.records if r.name == logger]
    assert len(records) == 2
    assert all("explode" in r.getMessage() for r in records)
    assert all("hunter2" not in r.getMessage() for r in records)


def test_a_blocked_watch_callback_does_not_hold_up_completion_callbacks(
    kind: Flavour, handler: Any
) -> None:
    gate, entered = kind.event(), kind.event()

    def blocked() -> None:
        entered.set()
        gate.wait(WAIT)

    handler.dispatch_callback(Callback("watch", blocked, ()))
    assert entered.wait(WAIT)
    drain(kind, handler, "completion_queue")  # the other worker goes on
    gate.set()
    drain(kind, handler)


def test_stop_drains_queued_callbacks(kind: Flavour) -> None:
    handler = kind.handler()
    handler.start()
    seen: list[int] = []
    gate = kind.event()
    handler.dispatch_callback(Callback("watch", lambda: gate.wait(WAIT), ()))
    for i in range(50):
        handler.dispatch_callback(Callback("watch", seen.append, (i,)))
        handler.completion_queue.put(lambda i=i: seen.append(1000 + i))
    gate.set()
    workers = handler._workers
    assert len(workers) == 2
    handler.stop()
    assert sorted(seen) == list(range(50)) + list(range(1000, 1050))
    assert all(worker.dead for worker in workers)
    assert handler._workers == ()


def test_callbacks_queued_while_stopped_run_after_start(kind: Flavour) -> None:
    handler = kind.handler()
    handler.start()
    handler.stop()
    seen: list[int] = []
    handler.dispatch_callback(Callback("watch", seen.append, (1,)))
    handler.start()
    try:
        drain(kind, handler)
    finally:
        handler.stop()
    assert seen == [1]


def test_stop_from_inside_a_callback_does_not_deadlock(kind: Flavour) -> None:
    handler = kind.handler()
    handler.start()
    drain(kind, handler, "completion_queue")
    workers = [handler.completion_queue.greenlet]
    stopped = kind.event()

    def stop_me() -> None:
        import greenlet

        workers.append(greenlet.getcurrent())
        handler.stop()
        stopped.set()

    handler.dispatch_callback(Callback("watch", stop_me, ()))
    assert stopped.wait(WAIT)
    for worker in workers:
        handler._join(worker, WAIT)  # the calling worker ends once its callback returns
    assert all(w.dead for w in workers)
    assert not handler.running


def test_stop_is_bounded_when_a_callback_is_stuck(
    kind: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    handler = kind.handler()
    handler.stop_timeout = 0.05
    handler.start()
    gate, entered = kind.event(), kind.event()

    def stuck() -> None:
        entered.set()
        gate.wait(WAIT)

    handler.dispatch_callback(Callback("watch", stuck, ()))
    assert entered.wait(WAIT)
    stuck_worker = handler.callback_queue.greenlet
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=f"kazoo.handlers.{kind.name}"):
        handler.stop()
    assert time.monotonic() - began < 1.0
    assert any("did not stop" in r.getMessage() for r in caplog.records)
    assert not stuck_worker.dead
    handler.start()  # a fresh queue and worker while the old one is busy
    try:
        drain(kind, handler)
    finally:
        gate.set()
        handler.stop_timeout = WAIT
        handler.stop()
    kind.sleep(0.01)
    assert stuck_worker.dead


# -- lazy workers ------------------------------------------------------------------------------


@pytest.fixture
def idle_exit(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set how long an idle worker waits before it ends."""

    def set_to(seconds: float) -> None:
        monkeypatch.setattr(_green, "WORKER_IDLE_EXIT", seconds)

    return set_to


def test_a_worker_starts_with_its_first_callback(kind: Flavour) -> None:
    kind.hub()
    before = kind.live_greenlets()
    handler = kind.handler()
    handler.start()
    try:
        assert handler._workers == () and kind.live_greenlets() == before
        assert handler.callback_queue.queue is None  # no queue either while idle
        drain(kind, handler)
        (worker,) = handler._workers  # the completion worker is still not there
        assert worker is handler.callback_queue.greenlet and not worker.dead
        assert handler.completion_queue.greenlet is None
        assert kind.live_greenlets() == before + 1
    finally:
        handler.stop()
    assert kind.live_greenlets() == before


def test_an_idle_worker_ends_and_the_next_callback_starts_another(
    kind: Flavour, idle_exit: Callable[[float], None]
) -> None:
    idle_exit(0.05)
    handler = kind.handler()
    handler.start()
    try:
        seen: list[int] = []
        handler.dispatch_callback(Callback("watch", seen.append, (1,)))
        drain(kind, handler)
        first = handler.callback_queue.greenlet
        handler._join(first, WAIT)  # idle for WORKER_IDLE_EXIT: it ends by itself
        assert first.dead and handler._workers == ()
        assert handler.callback_queue.queue is None  # the idle worker dropped its queue
        handler.dispatch_callback(Callback("watch", seen.append, (2,)))
        drain(kind, handler)
        assert seen == [1, 2]
        second = handler.callback_queue.greenlet
        assert second is not None and second is not first
    finally:
        handler.stop()
    assert handler._workers == ()


def test_a_callback_put_as_the_idle_wait_ends_is_not_stranded(
    kind: Flavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's idle wait times out, but a callback arrived before the worker resumed:
    the worker runs it rather than ending with it queued (nothing else is put afterwards
    that would start another worker and hide the loss)."""
    import greenlet

    handler = kind.handler()
    raced = kind.event()
    ran_on: list[Any] = []

    class RacingQueue:
        """The flavour's queue; its first idle wait ends with a callback put meanwhile."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.raced = False

        def put(self, item: Any) -> None:
            self.inner.put(item)

        def empty(self) -> bool:
            return bool(self.inner.empty())

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            if self.inner.empty() and not self.raced:
                self.raced = True
                worker = handler.callback_queue
                assert worker.greenlet is greenlet.getcurrent()
                worker.put(lambda: (ran_on.append(greenlet.getcurrent()), raced.set()))
                assert worker.greenlet is greenlet.getcurrent()  # no second worker
                raise handler.queue_empty()
            return self.inner.get(block, timeout)

    make_queue = handler._new_queue
    monkeypatch.setattr(handler, "_new_queue", lambda: RacingQueue(make_queue()))
    handler.start()
    try:
        first: list[Any] = []
        handler.dispatch_callback(
            Callback("watch", lambda: first.append(greenlet.getcurrent()), ())
        )
        assert raced.wait(WAIT), "the callback put during the idle exit was stranded"
        assert ran_on == first and len(first) == 1  # the same worker ran both
    finally:
        handler.stop()


def test_callbacks_racing_an_idle_exit_all_run(
    kind: Flavour, idle_exit: Callable[[float], None]
) -> None:
    """Callbacks put from other greenlets and timers while workers end and start: every
    one runs, in order, and each worker is alone."""
    idle_exit(0.001)
    handler = kind.handler()
    handler.start()
    try:
        import greenlet

        seen: list[int] = []
        running: set[Any] = set()
        overlaps: list[int] = []

        def note(i: int) -> None:
            running.add(greenlet.getcurrent())
            running.difference_update({g for g in running if g.dead})
            if len(running) > 1:
                overlaps.append(i)
            seen.append(i)

        for i in range(300):
            handler.dispatch_callback(Callback("watch", note, (i,)))
            if i % 7 == 0:
                kind.sleep(0.002)  # let the worker go idle and end now and then
            if i % 11 == 0:
                time.sleep(0.002)  # block the hub: the worker's timeout and this put race
        drain(kind, handler)
        assert seen == list(range(300))
        assert overlaps == []
    finally:
        handler.stop()
    assert handler._workers == ()


def test_a_killed_worker_is_replaced_by_the_next_callback(kind: Flavour, handler: Any) -> None:
    drain(kind, handler)
    worker = handler.callback_queue.greenlet
    worker.kill()
    kind.sleep(0)
    assert worker.dead and handler.callback_queue.greenlet is None
    drain(kind, handler)  # a new worker runs it
    assert handler.callback_queue.greenlet not in (None, worker)


def test_spawn(kind: Flavour, handler: Any) -> None:
    got: list[Any] = []
    done = kind.event()

    def work(a: int, b: int | None = None) -> None:
        got.append((a, b))
        done.set()

    worker = handler.spawn(work, 1, b=2)
    assert done.wait(WAIT)
    assert got == [(1, 2)]
    kind.sleep(0)
    assert worker.dead


# -- primitives ------------------------------------------------------------------------------


def test_event_lock_and_rlock(kind: Flavour, handler: Any) -> None:
    event = handler.event_object()
    assert not event.is_set()
    assert not event.wait(0.01)
    kind.spawn(event.set)
    assert event.wait(WAIT)
    lock = handler.lock_object()
    assert lock.acquire(blocking=False) and not lock.acquire(blocking=False)
    lock.release()
    rlock = handler.rlock_object()
    assert rlock.acquire(blocking=False) and rlock.acquire(blocking=False)
    other: list[bool] = []
    done = kind.event()

    def try_from_another_greenlet() -> None:
        other.append(rlock.acquire(blocking=False))
        done.set()

    kind.spawn(try_from_another_greenlet)
    assert done.wait(WAIT)
    assert other == [False]  # owned by a greenlet, not by the OS thread
    rlock.release()
    rlock.release()


def test_async_result_type(kind: Flavour, handler: Any) -> None:
    result = handler.async_result()
    if kind.name == "gevent":
        import gevent.event

        assert isinstance(result, gevent.event.AsyncResult)
    else:
        from kazoo.handlers import utils

        assert isinstance(result, utils.AsyncResult)
    assert result._handler is handler


# -- sockets and select ----------------------------------------------------------------------


def test_socket_pair_select_and_selector(kind: Flavour, handler: Any) -> None:
    a, b = handler.create_socket_pair()
    try:
        assert a.getblocking() is False and b.getblocking() is False
        with pytest.raises(BlockingIOError):
            b.recv(1)
        assert handler.select([a, b], [], [], 0) == ([], [], [])
        readable, writable, errors = handler.select([a, b], [b, a], [a], 0)
        assert readable == [] and writable == [b, a] and errors == []
        kind.spawn(a.send, b"x")
        assert handler.select([a, b], [], [], WAIT)[0] == [b]
        assert handler.select([b.fileno()], [], [], 0)[0] == [b.fileno()]
        assert b.recv(1) == b"x"
        assert handler.select([b], [], [], 0.01) == ([], [], [])
        selector = handler.new_selector()
        try:
            assert isinstance(selector, selectors.BaseSelector)
            selector.register(b, selectors.EVENT_READ)
            kind.spawn(a.send, b"y")
            assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]
        finally:
            selector.close()
    finally:
        a.close()
        b.close()
    with pytest.raises(ValueError):
        handler.select([a], [], [], 0)


def test_socket_is_tcp_with_nodelay(handler: Any) -> None:
    with handler.socket() as sock:
        assert sock.type == socket.SOCK_STREAM
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_create_connection_to_a_green_listener(kind: Flavour, handler: Any) -> None:
    listener = handler.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[Any] = []
    kind.spawn(lambda: accepted.append(listener.accept()[0]))
    try:
        sock = handler.create_connection(listener.getsockname(), timeout=WAIT)
        try:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert sock.gettimeout() == WAIT
            deadline = time.monotonic() + WAIT
            while not accepted and time.monotonic() < deadline:
                kind.sleep(0.001)
            accepted[0].sendall(b"hi")
            assert sock.recv(2) == b"hi"
        finally:
            sock.close()
            for peer in accepted:
                peer.close()
    finally:
        listener.close()


def test_create_connection_errors(handler: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ConnectionRefusedError):
        handler.create_connection(("127.0.0.1", port), timeout=WAIT)
    with pytest.raises(ConfigurationError, match="TLS"):
        handler.create_connection(("127.0.0.1", port), use_ssl=True)


def test_getaddrinfo_converts_addresses_without_the_green_resolver(handler: Any) -> None:
    module = handler._socket_module
    with mock.patch.object(module, "getaddrinfo", side_effect=AssertionError("resolver used")):
        infos = handler.getaddrinfo("127.0.0.1", 2181, 0, socket.SOCK_STREAM)
        v6 = handler.getaddrinfo("::1", 2181, 0, socket.SOCK_STREAM)
    assert {info[4] for info in infos} == {("127.0.0.1", 2181)}
    assert {info[4][:2] for info in v6} == {("::1", 2181)}
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 2181))]
    with mock.patch.object(module, "getaddrinfo", return_value=answer) as resolve:
        assert handler.getaddrinfo("zk1.example", 2181, 0, socket.SOCK_STREAM) == answer
    resolve.assert_called_once_with("zk1.example", 2181, 0, socket.SOCK_STREAM, 0, 0)


# -- the hub keeps running -------------------------------------------------------------------


def test_the_hub_keeps_running_while_the_handler_waits(kind: Flavour, handler: Any) -> None:
    ticks: list[float] = []
    running = [True]

    def ticker() -> None:
        while running[0]:
            ticks.append(time.monotonic())
            kind.sleep(0.005)

    kind.spawn(ticker)
    a, b = handler.create_socket_pair()
    held = handler.lock_object()
    held.acquire()
    waits = {
        "result.get": lambda: pytest.raises(
            handler.timeout_exception, handler.async_result().get, timeout=0.1
        ),
        "result.wait": lambda: handler.async_result().wait(0.1),
        "event.wait": lambda: handler.event_object().wait(0.1),
        "lock.acquire": lambda: held.acquire(timeout=0.1),
        "select": lambda: handler.select([b], [], [], 0.1),
        "sleep_func": lambda: handler.sleep_func(0.1),
    }
    try:
        for what, wait in waits.items():
            before = len(ticks)
            wait()
            assert len(ticks) - before >= 5, f"the hub stood still during {what}"
    finally:
        running[0] = False
        held.release()
        a.close()
        b.close()


# -- eventlet's selector and result condition -------------------------------------------------


@pytest.fixture
def eventlet_pair() -> Iterator[tuple[Any, Any, Any, Any]]:
    """(flavour, handler, writer, reader) for eventlet, a socket pair closed afterwards."""
    kind = flavour("eventlet")
    handler = kind.handler()
    a, b = handler.create_socket_pair()
    yield kind, handler, a, b
    a.close()
    b.close()


def test_eventlet_selector_keeps_its_hub_listener_across_waits(
    eventlet_pair: tuple[Any, Any, Any, Any],
) -> None:
    import eventlet.hubs

    kind, handler, a, b = eventlet_pair
    hub = eventlet.hubs.get_hub()
    selector = handler.new_selector()
    fd = selector.fileno()
    try:
        selector.register(b, selectors.EVENT_READ)
        with mock.patch.object(hub, "add", wraps=hub.add) as add:
            for _ in range(20):
                kind.spawn(a.send, b"x")
                assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]
                assert b.recv(16) == b"x"
            assert add.call_count == 1  # one listener for all the waits
        assert fd in hub.listeners[hub.READ]
        began = time.monotonic()
        assert selector.select(0.02) == []
        assert time.monotonic() - began >= 0.02
    finally:
        selector.close()
    assert fd not in hub.listeners[hub.READ]


def test_eventlet_selector_stops_listening_while_nobody_waits(
    eventlet_pair: tuple[Any, Any, Any, Any],
) -> None:
    """The descriptor stays readable until its owner reads: a listener kept meanwhile would
    fire on every hub turn, so it is dropped, and the next wait looks (and listens) again."""
    import eventlet.hubs

    kind, handler, a, b = eventlet_pair
    hub = eventlet.hubs.get_hub()
    selector = handler.new_selector()
    fd = selector.fileno()
    try:
        selector.register(b, selectors.EVENT_READ)
        kind.spawn(a.send, b"x")
        assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]
        a.send(b"y")  # ready again while nobody waits on the selector
        for _ in range(1000):  # hub turns, until the listener has fired with no waiter
            if fd not in hub.listeners[hub.READ]:
                break
            kind.sleep(0)
        assert fd not in hub.listeners[hub.READ]
        assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]  # seen at once
        assert b.recv(16) == b"xy"
        kind.spawn(a.send, b"z")
        assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]  # listens again
        assert b.recv(16) == b"z"
    finally:
        selector.close()


def test_eventlet_selector_timer_firing_early_does_not_end_a_later_wait(
    eventlet_pair: tuple[Any, Any, Any, Any],
) -> None:
    kind, handler, a, b = eventlet_pair
    selector = handler.new_selector()
    try:
        selector.register(b, selectors.EVENT_READ)
        kind.spawn(a.send, b"x")
        assert selector.select(0.05)  # ready at once: its 0.05 s timer is kept
        assert b.recv(16) == b"x"

        def later() -> None:
            kind.sleep(0.2)
            a.send(b"y")

        kind.spawn(later)
        began = time.monotonic()
        # The kept timer fires after 0.05 s, during this wait: it looks and parks again.
        assert [key.fileobj for key, _ in selector.select(WAIT)] == [b]
        assert time.monotonic() - began >= 0.15
        assert b.recv(16) == b"y"
    finally:
        selector.close()


def test_eventlet_result_condition_wakes_every_waiter_and_forgets_timed_out_ones() -> None:
    kind = flavour("eventlet")
    handler = kind.handler()
    result = handler.async_result()
    assert not result.wait(0.01)
    assert result._condition._waiters == []  # the timed-out waiter is not listed
    got: list[Any] = []
    done = [kind.event() for _ in range(5)]

    def waiter(event: Any) -> None:
        got.append(result.get(timeout=WAIT))
        event.set()

    for event in done:
        kind.spawn(waiter, event)
    kind.sleep(0)
    assert len(result._condition._waiters) == 5
    result.set(7)
    assert all(event.wait(WAIT) for event in done)
    assert got == [7] * 5 and result._condition._waiters == []
