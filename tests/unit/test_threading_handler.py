"""SequentialThreadingHandler (API.md sections 2.7 and 2.8)."""

from __future__ import annotations

import gc
import logging
import queue
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from kazoo.exceptions import ConfigurationError
from kazoo.handlers import threading as threading_handler
from kazoo.handlers.threading import AsyncResult, KazooTimeoutError, SequentialThreadingHandler
from kazoo.handlers.utils import create_tcp_connection
from kazoo.interfaces import IHandler
from kazoo.protocol.states import Callback

WAIT = 5.0


@pytest.fixture
def handler() -> Iterator[SequentialThreadingHandler]:
    handler = SequentialThreadingHandler()
    handler.start()
    yield handler
    handler.stop()


def drain_callbacks(handler: SequentialThreadingHandler) -> None:
    done = threading.Event()
    handler.dispatch_callback(Callback("watch", done.set, ()))
    assert done.wait(WAIT)


WORKER_NAMES = ("kazoo-watch-worker", "kazoo-completion-worker")


def kazoo_threads() -> set[threading.Thread]:
    """The handler's worker threads (other kazoo threads, e.g. the test harness's, aside)."""
    return {t for t in threading.enumerate() if t.name.startswith(WORKER_NAMES)}


def test_class_attributes() -> None:
    assert SequentialThreadingHandler.name == "sequential_threading_handler"
    assert SequentialThreadingHandler.timeout_exception is KazooTimeoutError
    assert issubclass(KazooTimeoutError, Exception)
    assert SequentialThreadingHandler.sleep_func is time.sleep
    assert SequentialThreadingHandler().sleep_func is time.sleep
    assert SequentialThreadingHandler.queue_impl is queue.Queue
    assert SequentialThreadingHandler.queue_empty is queue.Empty


def test_satisfies_the_handler_interface() -> None:
    assert isinstance(SequentialThreadingHandler(), IHandler)


def test_start_stop_idempotent_and_running() -> None:
    before = set(threading.enumerate())
    handler = SequentialThreadingHandler()
    assert not handler.running
    handler.stop()  # stopping a handler that never ran is a no-op
    handler.start()
    handler.start()
    assert handler.running
    assert set(threading.enumerate()) == before  # no thread until there is a callback
    drain_callbacks(handler)
    done = threading.Event()
    handler.completion_queue.put(done.set)
    assert done.wait(WAIT)
    assert len(set(threading.enumerate()) - before) == 2
    handler.stop()
    handler.stop()
    assert not handler.running
    assert set(threading.enumerate()) == before
    assert "stopped" in repr(handler)


def test_workers_are_daemons_with_names(handler: SequentialThreadingHandler) -> None:
    assert handler._threads == ()
    drain_callbacks(handler)
    done = threading.Event()
    handler.completion_queue.put(done.set)
    assert done.wait(WAIT)
    names = {t.name for t in handler._threads}
    assert names == {"kazoo-watch-worker", "kazoo-completion-worker"}
    assert all(t.daemon for t in handler._threads)


def test_an_idle_worker_ends_and_the_next_callback_starts_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threading_handler, "WORKER_IDLE_EXIT", 0.05)
    handler = SequentialThreadingHandler()
    handler.start()
    try:
        seen: list[int] = []
        handler.dispatch_callback(Callback("watch", seen.append, (1,)))
        drain_callbacks(handler)
        (first,) = handler._threads
        first.join(WAIT)  # idle for WORKER_IDLE_EXIT: it ends by itself
        assert not first.is_alive() and handler._threads == ()
        handler.dispatch_callback(Callback("watch", seen.append, (2,)))
        drain_callbacks(handler)
        assert seen == [1, 2]
        (second,) = handler._threads
        assert second is not first
    finally:
        handler.stop()
    assert kazoo_threads() == set()


def test_callbacks_racing_an_idle_exit_all_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback put while the worker decides to end is never stranded."""
    monkeypatch.setattr(threading_handler, "WORKER_IDLE_EXIT", 0.001)
    handler = SequentialThreadingHandler()
    handler.start()
    try:
        seen: list[int] = []
        for i in range(300):
            handler.dispatch_callback(Callback("watch", seen.append, (i,)))
            if i % 7 == 0:
                time.sleep(0.002)  # let the worker go idle now and then
        drain_callbacks(handler)
        assert seen == list(range(300))
    finally:
        handler.stop()
    assert kazoo_threads() == set()


def test_callbacks_run_in_order_on_one_worker(handler: SequentialThreadingHandler) -> None:
    seen: list[tuple[int, str]] = []

    def record(i: int) -> None:
        seen.append((i, threading.current_thread().name))

    for i in range(200):
        handler.dispatch_callback(Callback("watch", record, (i,)))
    drain_callbacks(handler)
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"kazoo-watch-worker"}


def test_callback_receives_all_args(handler: SequentialThreadingHandler) -> None:
    got: list[tuple[Any, ...]] = []
    handler.dispatch_callback(Callback("watch", lambda *a: got.append(a), (1, "b", None)))
    drain_callbacks(handler)
    assert got == [(1, "b", None)]


def test_exception_in_a_callback_is_logged_and_the_next_runs(
    handler: SequentialThreadingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def explode(secret: str) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="kazoo.handlers.threading"):
        handler.dispatch_callback(Callback("watch", explode, ("hunter2",)))
        handler.dispatch_callback(Callback("watch", seen.append, ("next",)))
        handler.completion_queue.put(explode)  # wrong arity: TypeError, logged too
        done = threading.Event()
        handler.completion_queue.put(done.set)
        drain_callbacks(handler)
        assert done.wait(WAIT)
    assert seen == ["next"]
    records = [r for r in caplog.records if r.name == "kazoo.handlers.threading"]
    assert len(records) == 2
    assert all("explode" in r.getMessage() for r in records)
    assert all("hunter2" not in r.getMessage() for r in records)


def test_stop_drains_queued_callbacks_and_joins_workers() -> None:
    before = set(threading.enumerate())
    handler = SequentialThreadingHandler()
    handler.start()
    seen: list[int] = []
    gate = threading.Event()
    handler.dispatch_callback(Callback("watch", lambda: gate.wait(WAIT), ()))
    for i in range(50):
        handler.dispatch_callback(Callback("watch", seen.append, (i,)))
        handler.completion_queue.put(lambda i=i: seen.append(1000 + i))
    gate.set()
    handler.stop()
    assert sorted(seen) == list(range(50)) + list(range(1000, 1050))
    assert set(threading.enumerate()) == before


def test_restart_after_stop() -> None:
    handler = SequentialThreadingHandler()
    handler.start()
    handler.stop()
    seen: list[int] = []
    handler.dispatch_callback(Callback("watch", seen.append, (1,)))  # queued while stopped
    handler.start()
    try:
        drain_callbacks(handler)
    finally:
        handler.stop()
    assert seen == [1]
    assert kazoo_threads() == set()


def test_stop_from_inside_a_callback_does_not_deadlock() -> None:
    handler = SequentialThreadingHandler()
    handler.start()
    drain_callbacks(handler)
    workers = handler._threads
    stopped = threading.Event()

    def stop_me() -> None:
        handler.stop()
        stopped.set()

    handler.dispatch_callback(Callback("watch", stop_me, ()))
    assert stopped.wait(WAIT)
    for worker in workers:
        worker.join(WAIT)
        assert not worker.is_alive()
    assert not handler.running


def test_stop_is_bounded_when_a_callback_is_stuck(caplog: pytest.LogCaptureFixture) -> None:
    handler = SequentialThreadingHandler()
    handler.stop_timeout = 0.05
    handler.start()
    gate = threading.Event()
    entered = threading.Event()

    def stuck() -> None:
        entered.set()
        gate.wait(WAIT)

    handler.dispatch_callback(Callback("watch", stuck, ()))
    assert entered.wait(WAIT)
    (stuck_worker,) = handler._threads
    with caplog.at_level(logging.WARNING, logger="kazoo.handlers.threading"):
        handler.stop()
    assert any("did not stop" in r.getMessage() for r in caplog.records)
    assert stuck_worker.is_alive()
    # A restart while the old worker is still busy gets a fresh queue and worker.
    handler.start()
    try:
        drain_callbacks(handler)
    finally:
        gate.set()
        handler.stop_timeout = WAIT
        handler.stop()
    stuck_worker.join(WAIT)
    assert not stuck_worker.is_alive()
    assert kazoo_threads() == set()


def test_exit_hook_runs_queued_callbacks_and_stops_workers() -> None:
    handler = SequentialThreadingHandler()
    handler.start()
    assert handler in threading_handler._RUNNING
    gate = threading.Event()
    seen: list[int] = []
    handler.dispatch_callback(Callback("watch", gate.wait, (WAIT,)))
    handler.dispatch_callback(Callback("watch", seen.append, (1,)))
    workers = handler._threads
    gate.set()
    threading_handler._stop_at_exit()  # what the interpreter does at exit
    assert not handler.running and seen == [1]
    for worker in workers:
        assert not worker.is_alive()
    assert handler not in threading_handler._RUNNING


def test_a_running_handler_is_held_weakly_and_its_workers_end_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threading_handler, "WORKER_IDLE_EXIT", 0.05)
    handler = SequentialThreadingHandler()
    handler.start()
    drain_callbacks(handler)
    workers = handler._threads
    ref = weakref.ref(handler)
    del handler
    gc.collect()
    assert ref() is None
    threading_handler._stop_at_exit()  # handler gone: nothing to do
    for worker in workers:  # nothing to run: they end by themselves
        worker.join(WAIT)
        assert not worker.is_alive()


def test_spawn(handler: SequentialThreadingHandler) -> None:
    got: list[Any] = []
    thread = handler.spawn(lambda a, b=None: got.append((a, b)), 1, b=2)
    assert isinstance(thread, threading.Thread)
    assert thread.daemon
    thread.join(WAIT)
    assert not thread.is_alive()
    assert got == [(1, 2)]


def test_primitives(handler: SequentialThreadingHandler) -> None:
    assert isinstance(handler.event_object(), threading.Event)
    lock = handler.lock_object()
    assert lock.acquire(blocking=False) and not lock.acquire(blocking=False)
    rlock = handler.rlock_object()
    assert rlock.acquire(blocking=False) and rlock.acquire(blocking=False)
    result = handler.async_result()
    assert isinstance(result, AsyncResult)
    assert result._handler is handler


# -- sockets and select --------------------------------------------------------------------


@pytest.fixture
def pair(handler: SequentialThreadingHandler) -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = handler.create_socket_pair()
    yield a, b
    a.close()
    b.close()


def test_socket_pair_is_non_blocking_and_connected(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    assert a.getblocking() is False and b.getblocking() is False
    with pytest.raises(BlockingIOError):
        b.recv(1)
    a.send(b"x")
    assert b.recv(1) == b"x"


def test_select_on_a_socket_pair(
    handler: SequentialThreadingHandler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    assert handler.select([a, b], [], [], 0) == ([], [], [])
    readable, writable, errors = handler.select([a, b], [b, a], [a], 0)
    assert readable == [] and writable == [b, a] and errors == []
    a.send(b"x")
    readable, writable, _ = handler.select([a, b], [], [], WAIT)
    assert readable == [b]
    readable, writable, _ = handler.select([b.fileno()], [a.fileno()], [], WAIT)
    assert readable == [b.fileno()] and writable == [a.fileno()]
    assert handler.select([b, b], [], [], 0)[0] == [b, b]


def test_select_timeout_and_empty_lists(
    handler: SequentialThreadingHandler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    assert handler.select([a], [], [], 0.01) == ([], [], [])
    assert handler.select([], [], [], 0) == ([], [], [])
    assert handler.select([a], [], [], -1) == ([], [], [])


def test_select_rejects_closed_sockets(handler: SequentialThreadingHandler) -> None:
    a, b = handler.create_socket_pair()
    a.close()
    b.close()
    with pytest.raises(ValueError):
        handler.select([a], [], [], 0)
    with pytest.raises(ValueError):
        handler.select([], [], [-1], 0)


def test_new_selector(handler: SequentialThreadingHandler) -> None:
    first, second = handler.new_selector(), handler.new_selector()
    try:
        assert isinstance(first, selectors.BaseSelector)
        assert first is not second
    finally:
        first.close()
        second.close()


def test_socket_is_tcp_with_nodelay(handler: SequentialThreadingHandler) -> None:
    with handler.socket() as sock:
        assert sock.type == socket.SOCK_STREAM
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_create_connection_plain_tcp(handler: SequentialThreadingHandler) -> None:
    fake = mock.Mock()
    with mock.patch("socket.create_connection", return_value=fake) as create:
        sock = handler.create_connection(("zk1", 2181), hostname="zk1", timeout=3.0)
    assert sock is fake
    create.assert_called_once_with(("zk1", 2181), 3.0)
    fake.setsockopt.assert_called_once_with(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def test_create_connection_errors_propagate(handler: SequentialThreadingHandler) -> None:
    with mock.patch("socket.create_connection", side_effect=ConnectionRefusedError()):
        with pytest.raises(ConnectionRefusedError):
            handler.create_connection(("zk1", 2181), timeout=1.0)


def test_create_tcp_connection_closes_the_socket_on_setup_failure() -> None:
    fake_sock = mock.Mock()
    fake_sock.setsockopt.side_effect = OSError("nope")
    module = mock.Mock()
    module.create_connection.return_value = fake_sock
    with pytest.raises(OSError):
        create_tcp_connection(module, ("h", 1), 2.0)
    fake_sock.close.assert_called_once_with()


def test_create_connection_with_tls_is_not_supported_yet(
    handler: SequentialThreadingHandler,
) -> None:
    with mock.patch("socket.create_connection") as create:
        with pytest.raises(ConfigurationError, match="TLS"):
            handler.create_connection(("zk1", 2281), use_ssl=True)
    create.assert_not_called()
