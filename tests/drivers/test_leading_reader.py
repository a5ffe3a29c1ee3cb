"""A caller of the threading or gevent handler that waits alone reads its own reply
(``Driver.serve_waiter``).

These tests pin down what that must not change: other callers' requests still go out at
once, timers still run, timeouts still hold, watch events still arrive, and a connection
that breaks under the reading caller is recovered by the driver. Each runs with the threading
handler (callers are threads; not in a monkey-patched process) and with the gevent handler
(callers are greenlets; with and without monkey-patching).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kazoo.exceptions import ConnectionLoss
from kazoo.handlers import _driver
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.watchers import DataWatch

from ..green.flavours import PROCESS_KINDS, Flavour, monkey_patched
from .conftest import Env, Recorder, StateLog
from .fakeserver import (
    OP_GET_DATA,
    OP_PING,
    Conn,
    FakeZooKeeper,
    Peer,
    Request,
    watch_event,
)
from .test_hostile_server import DROP_CASES, Action, _connected_client

CONNECTED, SUSPENDED = KazooState.CONNECTED, KazooState.SUSPENDED
CHANGED = 3  # NodeDataChanged (PROTOCOL.md §7)

#: The handlers whose callers lead: threading everywhere (skipped where it cannot lead), gevent
#: where this process may run it.
LEADING_HANDLERS = ["threading"] + [kind for kind in PROCESS_KINDS if kind == "gevent"]
pytestmark = pytest.mark.parametrize("driver_handler", LEADING_HANDLERS, indirect=True)


@pytest.fixture
def can_lead(driver_handler: str) -> None:
    """Skips the threading handler in a monkey-patched process: its callers lead only with
    the OS's own selector and poll (see ``Driver.leads``)."""
    if driver_handler == "threading" and monkey_patched():
        pytest.skip("not in a monkey-patched process")


leading = pytest.mark.usefixtures("can_lead")


@pytest.fixture(autouse=True)
def lead_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller leads from its first submission on (not only after ``LEAD_AFTER``)."""
    monkeypatch.setattr(_driver, "LEAD_AFTER", 1)


def _me(client: Any) -> Any:
    """The running thread (or greenlet), as the client's driver tells callers apart."""
    return client._connection._current()


class Readers:
    """Records the thread (or greenlet) that settles each result (the one that read its
    reply)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
        self.threads: list[Any] = []
        original = _driver._settle

        def spy(handle: Any, value: Any, exception: BaseException | None) -> None:
            self.threads.append(_me(client))
            original(handle, value, exception)

        monkeypatch.setattr(_driver, "_settle", spy)


def _late_reply_is_read_by_the_driver(
    env: Env,
    server: FakeZooKeeper,
    held: list[tuple[Conn, Request]],
    slow: Any,
    client: Any,
    states: StateLog,
) -> None:
    """Answer the one held request (nobody waits for it now): the driver reads the reply,
    and the client goes on serving on the same connection. Ends the test."""
    ((conn, req),) = held
    server.answer(conn, req)
    _wait_until(env.flavour, slow.ready, 5.0, "the late reply is read")
    assert slow.get(block=False)[0] == b"late"
    assert client.get("/b")[0] == b"b"
    assert states.snapshot() == [CONNECTED]
    env.finish()


def _wait_until(kind: Flavour, predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        kind.sleep(0.001)


class Releaser:
    """A request hook: getData of ``paths`` is answered (or given to ``action``) only once
    a caller reads the connection, bounded by ``patience``, so that a reply cannot race the
    caller to the driver. ``led`` records, per held request, whether a caller was reading.
    Only the first ``times`` requests are held (``None``: all)."""

    def __init__(
        self,
        paths: tuple[str, ...],
        patience: float = 5.0,
        action: Action | None = None,
        times: int | None = None,
    ) -> None:
        self.paths = paths
        self.patience = patience
        self.action = action
        self.times = times
        self.client: Any = None
        self.led: list[bool] = []

    def __call__(self, server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        if req.op != OP_GET_DATA or req.path not in self.paths:
            return False
        if self.times is not None:
            if self.times <= 0:
                return False
            self.times -= 1
        threading.Thread(target=self._release, args=(server, conn, req)).start()
        return True

    def _release(self, server: FakeZooKeeper, conn: Conn, req: Request) -> None:
        driver = self.client._connection
        deadline = time.monotonic() + self.patience
        while driver._leader == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        self.led.append(driver._leader != 0)
        (self.action or FakeZooKeeper.answer)(server, conn, req)


def _held(store: list[tuple[Conn, Request]], *paths: str) -> Any:
    """A request hook that keeps getData of ``paths`` unanswered (in ``store``)."""

    def hook(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        if req.op == OP_GET_DATA and req.path in paths:
            store.append((conn, req))
            return True
        return False

    return hook


def _ended(task: Any) -> bool:
    """Whether a thread (or greenlet) of ``Flavour.spawn`` has ended."""
    return bool(task.dead) if hasattr(task, "dead") else not task.is_alive()


def _idle(env: Env, client: Any) -> None:
    """Wait until the driver sleeps in ``select`` (it holds the I/O lock otherwise): with
    no traffic it stays there, so the next caller finds the lock free."""
    lock = client._connection._io_lock
    _wait_until(env.flavour, lambda: not lock.locked(), 5.0, "the driver waits")


def _leading(env: Env, client: Any) -> None:
    """Wait until a caller reads the connection."""
    driver = client._connection
    _wait_until(env.flavour, lambda: driver._leader != 0, 5.0, "a caller reads the connection")
    sock = driver._socket
    assert sock is not None
    if env.flavour.green:  # the caller waits in the driver's selector, as its guest
        _wait_until(env.flavour, lambda: driver._selector._guest.waiter is not None, 5.0, "a guest")
    else:  # the caller polls the socket itself
        assert sock.fileno() not in driver._selector.get_map()


@leading
def test_a_caller_alone_reads_its_reply_in_its_own_thread(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    releaser = Releaser(("/a",))
    server = env.server(default=Peer(on_request=releaser))
    server.add_node("/a", b"mine")
    client, _ = _connected_client(env, server)
    releaser.client = client
    readers = Readers(monkeypatch, client)
    wakes: list[int] = []
    driver = client._connection
    wake = driver._wake
    driver._wake = lambda: (wakes.append(1), wake())[1]

    for _ in range(5):
        _idle(env, client)
        assert client.get("/a")[0] == b"mine"

    assert releaser.led == [True] * 5
    assert readers.threads == [_me(client)] * 5
    assert wakes == []  # the driver was never woken for these calls
    assert driver._leader == 0
    sock = driver._socket
    assert sock is not None and sock.fileno() in driver._selector.get_map()  # given back
    assert driver._wake_r.fileno() in driver._selector.get_map()
    env.finish()


@leading
def test_a_caller_leads_only_after_its_own_submissions_in_a_row(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_driver, "LEAD_AFTER", 3)
    releaser = Releaser(("/a",), patience=0.3)
    server = env.server(default=Peer(on_request=releaser))
    server.add_node("/a", b"x")
    client, _ = _connected_client(env, server)
    releaser.client = client

    for _ in range(3):
        _idle(env, client)
        client.get("/a")
    assert releaser.led == [False, False, True]

    other = env.flavour.spawn(client.get, "/a")
    other.join(5)
    _idle(env, client)
    client.get("/a")  # another thread submitted in between: not alone any more
    assert releaser.led[3:] == [False, False]
    env.finish()


@leading
def test_another_threads_request_goes_out_while_a_caller_leads(env: Env) -> None:
    held: list[tuple[Conn, Request]] = []
    server = env.server(default=Peer(on_request=_held(held, "/slow", "/b")))
    server.add_node("/slow", b"slow")
    server.add_node("/b", b"b")
    client, _ = _connected_client(env, server)
    outcome: list[Any] = []
    _idle(env, client)
    leader = env.flavour.spawn(lambda: outcome.append(client.get("/slow")))
    _leading(env, client)

    other = client.get_async("/b")
    # Nothing is answered until /b has arrived: it must go out now, not when the leading
    # caller's reply is in.
    server.wait_for(lambda: len(held) == 2, 5, "/b sent")
    for conn, req in held:
        server.answer(conn, req)

    assert other.get(timeout=5)[0] == b"b"
    leader.join(5)
    assert outcome and outcome[0][0] == b"slow"
    env.finish()


@leading
def test_a_leading_caller_times_out_and_the_driver_takes_over(env: Env) -> None:
    held: list[tuple[Conn, Request]] = []
    server = env.server(default=Peer(on_request=_held(held, "/slow")))
    server.add_node("/slow", b"late")
    server.add_node("/b", b"b")
    client, states = _connected_client(env, server)
    _idle(env, client)
    slow = client.get_async("/slow")

    started = time.monotonic()
    with pytest.raises(client.handler.timeout_exception):
        slow.get(timeout=0.3)
    assert time.monotonic() - started < 2.0

    _late_reply_is_read_by_the_driver(env, server, held, slow, client, states)


@leading
def test_pings_go_out_while_a_caller_waits_for_a_slow_reply(env: Env) -> None:
    held: list[tuple[Conn, Request]] = []
    server = env.server(default=Peer(on_request=_held(held, "/slow")), timeout_ms=1200)
    server.add_node("/slow", b"slow")
    client, states = _connected_client(env, server, timeout=1.2)
    outcome: list[Any] = []
    _idle(env, client)
    waiter = env.flavour.spawn(lambda: outcome.append(client.get("/slow")))
    _leading(env, client)

    # Pings are due every 0.4 s; the read timeout (0.8 s) would drop a silent link.
    server.wait_for(lambda: len(server.requests(OP_PING)) >= 3, timeout=5, what="3 pings")
    ((conn, req),) = held
    server.answer(conn, req)
    waiter.join(5)

    assert outcome and outcome[0][0] == b"slow"
    assert server.connection_count == 1
    assert states.snapshot() == [CONNECTED]
    env.finish()


@leading
def test_watch_events_read_by_a_leading_caller_reach_their_watchers(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = threading.Lock()
    phase = ["before"]  # then "holding" (from /b on), then "done"
    held: list[Request] = []  # /b and what came after it, answered in order

    def answer_in_order(server: FakeZooKeeper, conn: Conn, _req: Request) -> None:
        with guard:
            for req in held:
                server.answer(conn, req)
            held.clear()
            phase[0] = "done"

    releaser = Releaser(("/b",), action=answer_in_order)

    def change_then_answer(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        with guard:
            if req.op != OP_GET_DATA or phase[0] == "done":
                return False
            if phase[0] == "before":
                if req.path != "/b":
                    return False
                # The node changes and the server notifies before it answers.
                server.add_node("/w", b"new", version=1, mzxid=5)
                conn.send(watch_event(CHANGED, 3, "/w"))
                phase[0] = "holding"
                held.append(req)
                return releaser(server, conn, req)
            held.append(req)  # behind /b
            return True

    server = env.server(default=Peer(on_request=change_then_answer))
    server.add_node("/w", b"old")
    server.add_node("/b", b"b")
    client, _ = _connected_client(env, server)
    releaser.client = client
    plain = Recorder(env.flavour.pause)
    seen = Recorder(env.flavour.pause)
    client.get("/w", watch=plain)
    DataWatch(client, "/w", lambda data, stat: seen(data))
    seen.wait_for(b"old")
    _idle(env, client)
    events: list[Any] = []
    dispatch = client._connection._dispatch_watch
    monkeypatch.setattr(
        client._connection,
        "_dispatch_watch",
        lambda watcher, event: (events.append(_me(client)), dispatch(watcher, event)),
    )

    assert client.get("/b")[0] == b"b"

    assert releaser.led == [True]
    assert events[:2] == [_me(client)] * 2  # the caller read the event
    plain.wait_until(lambda event: (event.type, event.path) == (EventType.CHANGED, "/w"))
    seen.wait_for(b"new")  # the DataWatch's own read went out and came back
    env.finish()


@leading
@pytest.mark.parametrize("action", list(DROP_CASES.values()), ids=list(DROP_CASES))
def test_a_connection_that_breaks_under_a_leading_caller_is_recovered(
    env: Env, action: Action
) -> None:
    releaser = Releaser(("/a",), action=action, times=1)
    server = env.server()
    server.script(Peer(on_request=releaser))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)
    releaser.client = client

    _idle(env, client)
    with pytest.raises(ConnectionLoss):
        client.get_async("/a").get(timeout=5)

    assert releaser.led == [True]
    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))
    assert client.get_async("/a").get(timeout=5)[0] == b"fine"
    assert server.connection_count == 2
    env.finish()


@leading
def test_stop_while_a_caller_leads_fails_its_request(env: Env) -> None:
    held: list[tuple[Conn, Request]] = []
    server = env.server(default=Peer(on_request=_held(held, "/slow")))
    server.add_node("/slow", b"slow")
    client, _ = _connected_client(env, server)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            client.get_async("/slow").get(timeout=10)
        except Exception as exc:  # recorded for the assertion below
            errors.append(exc)

    _idle(env, client)
    waiter = env.flavour.spawn(wait)
    _leading(env, client)

    started = time.monotonic()
    client.stop()
    waiter.join(5)

    assert time.monotonic() - started < 5.0
    assert _ended(waiter)
    assert len(errors) == 1 and isinstance(errors[0], Exception)
    env.finish()


@leading
def test_many_callers_at_once_each_get_their_own_replies(env: Env) -> None:
    """Callers that are not alone take turns at reading, or leave it to the driver; a
    leading caller gives up as soon as another one submits. Every reply reaches its own
    caller either way."""
    server = env.server()
    for i in range(8):
        server.add_node(f"/n{i}", b"%d" % i)
    client, states = _connected_client(env, server)
    got: list[list[bytes]] = [[] for _ in range(8)]

    def caller(i: int) -> None:
        for _ in range(25):
            got[i].append(client.get(f"/n{i}")[0])

    callers = [env.flavour.spawn(caller, i) for i in range(8)]
    for task in callers:
        task.join(10)
    assert all(_ended(task) for task in callers)
    assert got == [[b"%d" % i] * 25 for i in range(8)]
    assert states.snapshot() == [CONNECTED]
    env.finish()


@leading
def test_a_leading_greenlet_that_is_killed_leaves_the_driver_working(
    env: Env, driver_handler: str
) -> None:
    """A greenlet killed (``GreenletExit``, or a ``gevent.Timeout``, thrown into it) while
    it waits for its reply as the selector's guest gives the I/O lock and the selector
    back; the driver reads the late reply."""
    if driver_handler != "gevent":
        pytest.skip("only a greenlet can be interrupted while it waits")
    held: list[tuple[Conn, Request]] = []
    server = env.server(default=Peer(on_request=_held(held, "/slow")))
    server.add_node("/slow", b"late")
    server.add_node("/b", b"b")
    client, states = _connected_client(env, server)
    driver = client._connection
    _idle(env, client)
    handles: list[Any] = []

    def wait() -> None:
        handles.append(client.get_async("/slow"))
        handles[0].get()

    waiter = env.flavour.spawn(wait)
    _leading(env, client)

    waiter.kill(block=True, timeout=5)
    (slow,) = handles

    assert _ended(waiter)
    assert driver._leader == 0 and driver._selector._guest.waiter is None
    _idle(env, client)  # the lock is free again: the driver waits in its selector
    _late_reply_is_read_by_the_driver(env, server, held, slow, client, states)


@leading
def test_a_wait_from_the_hub_fails_without_touching_the_connection(
    env: Env, driver_handler: str
) -> None:
    """Waiting in the hub (a callback of its loop) is gevent's error, raised as before:
    the caller does not try to read the connection from there."""
    if driver_handler != "gevent":
        pytest.skip("only gevent has a hub")
    import gevent
    import gevent.exceptions

    server = env.server()
    server.add_node("/a", b"a")
    client, states = _connected_client(env, server)
    _idle(env, client)
    errors: list[BaseException] = []

    def in_the_hub() -> None:
        try:
            client.get_async("/a").get(timeout=5)
        except gevent.exceptions.BlockingSwitchOutError as exc:
            errors.append(exc)

    gevent.get_hub().loop.run_callback(in_the_hub)
    _wait_until(env.flavour, lambda: errors, 5.0, "the wait in the hub fails")
    assert client.get("/a")[0] == b"a"
    assert states.snapshot() == [CONNECTED] and server.connection_count == 1
    env.finish()


@pytest.mark.skipif(not monkey_patched(), reason="needs a monkey-patched process")
def test_who_leads_in_a_monkey_patched_process(env: Env, driver_handler: str) -> None:
    # Threading: the patched selector's set is not the kernel's (a registration made while
    # the driver waits would go unseen), and select.poll is green or gone. Gevent: its own
    # selector is an OS one waited on through the hub, patched or not.
    server = env.server()
    server.add_node("/a", b"a")
    client, _ = _connected_client(env, server)
    assert client._connection.leads is (driver_handler == "gevent")
    assert client.get("/a")[0] == b"a"
    env.finish()
