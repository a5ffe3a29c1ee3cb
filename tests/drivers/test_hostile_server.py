"""The threading driver against a hostile or broken peer (API.md §2.1.4 "untrusted server
input", PROTOCOL.md §1-3, §7, §10).

Every case must end in a reconnect, SUSPENDED/LOST, or a documented exception for the
request in flight; never a hang, a dead I/O loop (the next request works), a leaked thread or
a leaked socket. ``Env.finish()`` checks the last three after ``stop()`` + ``close()``.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionLoss,
    SessionExpiredError,
    UnknownZookeeperError,
    WriterNotClosedException,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent

from .conftest import Env, Recorder, StateLog
from .fakeserver import (
    OP_AUTH,
    OP_CLOSE,
    OP_GET_DATA,
    Conn,
    FakeZooKeeper,
    Peer,
    Request,
    buffer,
    connect_response,
    frame,
    on_op,
    reply,
    stat_bytes,
    watch_event,
)

CONNECTED, SUSPENDED, LOST = KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.LOST
_INT = struct.Struct(">i")

Action = Callable[[FakeZooKeeper, Conn, Request], None]


def _send(data: Any, close: bool = False) -> Action:
    """An action sending ``data`` (bytes, or a function of the request), maybe then EOF."""

    def action(server: FakeZooKeeper, conn: Conn, req: Request) -> None:
        conn.send(data(req) if callable(data) else data)
        if close:
            conn.close()

    return action


def _then_silence() -> Callable[[FakeZooKeeper, Conn, Request], bool]:
    """Answer the first getData with half a frame, then never say anything again."""
    triggered: list[bool] = []

    def hook(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        if req.op == OP_GET_DATA and not triggered:
            triggered.append(True)
            conn.send(_INT.pack(100) + b"\x00" * 20)
        return bool(triggered)  # everything after the trigger is swallowed

    return hook


def _data_reply(req: Request, body: bytes) -> bytes:
    return reply(req.xid, 0x200, 0, body)


# Each case answers the first getData on connection 0 in a broken way; the get in flight
# must fail with ConnectionLoss and the client must resume the session on connection 1.
DROP_CASES = {
    "length-2**31-16": _send(_INT.pack(2**31 - 16) + b"\x00" * 16),
    "negative-length": _send(_INT.pack(-16) + b"\x00" * 16),
    "truncated-frame-then-eof": _send(_INT.pack(100) + b"\x00" * 20, close=True),
    "wrong-xid": _send(lambda req: reply(req.xid + 1000, 0x200, 0, buffer(b"v") + stat_bytes())),
    "watch-event-truncated-body": _send(reply(-1, -1, 0, b"\x00\x00\x00")),
    "watch-event-path-overruns": _send(
        reply(-1, -1, 0, struct.pack(">iii", 3, 3, 0x7FFFFFFF) + b"/a")
    ),
    "reply-body-truncated": _send(lambda req: _data_reply(req, _INT.pack(1000) + b"abc")),
    "reply-stat-missing": _send(lambda req: _data_reply(req, buffer(b"abc"))),
    "reply-shorter-than-header": _send(frame(b"\x00\x00\x00")),
}


def _get(client: Any, path: str = "/a") -> Any:
    """The data of ``path``, waiting at most 5 s (a hung client fails here, not in pytest)."""
    return client.get_async(path).get(timeout=5)[0]


def _connected_client(env: Env, server: FakeZooKeeper, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", 5.0)
    client = env.client(server, **kwargs)
    states = StateLog(client)
    client.start(timeout=5)
    states.wait_for(CONNECTED)
    return client, states


def _assert_resumed_on(server: FakeZooKeeper, index: int) -> None:
    """Connection ``index`` resumed the session made on connection 0."""
    first = server.wait_for_connect(0)
    later = server.wait_for_connect(index)
    assert first.session_id == 0
    ((sid, passwd),) = server.sessions.items()
    assert (later.session_id, later.passwd) == (sid, passwd)


@pytest.mark.parametrize("action", list(DROP_CASES.values()), ids=list(DROP_CASES))
def test_broken_reply_drops_the_connection_and_the_client_recovers(
    env: Env, action: Action
) -> None:
    server = env.server()
    server.script(Peer(on_request=on_op(OP_GET_DATA, action)))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)

    with pytest.raises(ConnectionLoss):
        client.get_async("/a").get(timeout=5)

    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))
    assert _get(client) == b"fine"  # the I/O loop lives on, on a new connection
    server.wait_for_closed(0)
    assert server.connection_count == 2
    _assert_resumed_on(server, 1)
    assert client.state == CONNECTED
    env.finish()


def test_truncated_frame_then_silence_is_dropped_by_the_read_timeout(env: Env) -> None:
    negotiated = 1500  # read timeout 1 s; the LOST timer is 0.5 s further away
    server = env.server(timeout_ms=negotiated)
    server.script(Peer(on_request=_then_silence()))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)

    started = time.monotonic()
    with pytest.raises(ConnectionLoss):
        client.get_async("/a").get(timeout=5)
    waited = time.monotonic() - started

    assert waited < negotiated / 1000 + 1.0
    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))
    assert _get(client) == b"fine"
    server.wait_for_client_close(0)
    _assert_resumed_on(server, 1)
    assert LOST not in states.snapshot()
    env.finish()


def test_unknown_error_code_fails_only_that_request(env: Env) -> None:
    server = env.server()
    server.script(Peer(on_request=on_op(OP_GET_DATA, _send(lambda req: reply(req.xid, 1, -999)))))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)

    with pytest.raises(UnknownZookeeperError) as info:
        client.get_async("/a").get(timeout=5)

    assert info.value.code == -999
    assert type(info.value).code == -999
    assert _get(client) == b"fine"  # same connection, still serving
    assert server.connection_count == 1
    assert not server.conn(0).closed
    assert states.snapshot() == [CONNECTED]
    env.finish()


@pytest.mark.parametrize("timeout_ms", [0, -5])
def test_expired_connect_response_means_lost_then_a_new_session(env: Env, timeout_ms: int) -> None:
    server = env.server()
    server.script(None, Peer(handshake="silent"))  # connection 1: the test answers
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)
    ((old_sid, _),) = server.sessions.items()
    watcher = Recorder()
    client.get_async("/a", watch=watcher).get(timeout=5)

    server.conn(0).close()
    states.wait_for(SUSPENDED)
    assert server.wait_for_connect(1).session_id == old_sid
    queued = client.get_async("/a")  # waits for the handshake
    server.conn(1).send(connect_response(timeout_ms, 0, b"\x00" * 16))
    server.conn(1).close()

    with pytest.raises(SessionExpiredError):
        queued.get(timeout=5)
    lost = states.wait_for(LOST)
    states.wait_for(CONNECTED, start=lost)
    watcher.wait_for(WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None))
    fresh = server.wait_for_connect(2)
    assert (fresh.session_id, fresh.last_zxid) == (0, 0)
    assert fresh.passwd == b"\x00" * 16
    assert client.client_id is not None and client.client_id[0] != old_sid
    assert _get(client) == b"fine"
    assert watcher.snapshot() == [WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)]
    env.finish()


def test_no_handshake_reply_moves_on_to_the_next_attempt(env: Env) -> None:
    server = env.server()
    server.script(Peer(handshake="silent"))
    server.add_node("/a", b"fine")
    client = env.client(server, timeout=1.0)  # connect timeout with one host: 1 s

    started = time.monotonic()
    client.start(timeout=5)
    elapsed = time.monotonic() - started

    assert elapsed < 3.0
    assert server.connection_count == 2
    server.wait_for_client_close(0)
    assert _get(client) == b"fine"
    env.finish()


def test_start_raises_the_handler_timeout_when_nothing_answers(env: Env) -> None:
    server = env.server(default=Peer(handshake="silent"))
    client = env.client(server, timeout=0.4)

    started = time.monotonic()
    with pytest.raises(client.handler.timeout_exception):
        client.start(timeout=1.5)
    elapsed = time.monotonic() - started

    assert elapsed < 1.5 + 11.0  # the wait, then stop() within its bound
    assert server.connection_count >= 2  # it retried within the bound
    for index in range(server.connection_count):
        server.wait_for_client_close(index)
    assert client.state == LOST and client.client_state == KeeperState.CLOSED
    env.finish()


# Broken first frames: the client must give up on that connection and try again.
FIRST_FRAME_CASES = {
    "length-2**31-16": _INT.pack(2**31 - 16) + b"\x00" * 16,
    "negative-length": _INT.pack(-1),
    "too-short": frame(b"\x00" * 20),
    "passwd-overruns": frame(struct.pack(">iiqi", 0, 5000, 77, 0x7FFFFFFF) + b"\x00" * 16),
    "truncated-then-eof": _INT.pack(37) + b"\x00" * 10,
}


@pytest.mark.parametrize("first", list(FIRST_FRAME_CASES.values()), ids=list(FIRST_FRAME_CASES))
def test_broken_connect_response_moves_on_to_the_next_attempt(env: Env, first: bytes) -> None:
    server = env.server()
    eof = first == FIRST_FRAME_CASES["truncated-then-eof"]
    server.script(Peer(handshake_bytes=first, then="eof" if eof else "serve"))
    server.add_node("/a", b"fine")
    client = env.client(server, timeout=5.0)

    client.start(timeout=5)

    server.wait_for_closed(0)
    assert server.connection_count == 2
    assert server.wait_for_connect(1).session_id == 0
    assert _get(client) == b"fine"
    env.finish()


def test_error_reply_header_as_first_frame_is_not_a_session(env: Env) -> None:
    # A 3.8.0 read-only server may answer a ConnectRequest with a bare 16-byte
    # ReplyHeader {0, 0, -119} and keep the socket open (PROTOCOL.md §10).
    server = env.server()
    server.script(Peer(handshake_bytes=reply(0, 0, -119)))
    server.add_node("/a", b"fine")
    client = env.client(server, timeout=5.0, read_only=True)

    client.start(timeout=5)

    server.wait_for_client_close(0)
    assert server.connection_count == 2
    assert server.wait_for_connect(1).session_id == 0
    assert _get(client) == b"fine"
    env.finish()


def test_connection_dropped_right_after_the_handshake_does_not_fail_start(env: Env) -> None:
    # The ConnectResponse and a reply nobody asked for arrive together: the client is
    # CONNECTED for an instant, drops the connection and reconnects. start(timeout=5) must
    # wait for the reconnection (API.md §2.1.3: "waits up to timeout for CONNECTED"), not
    # give up at once, and must not return before it is connected again.
    server = env.server()
    server.script(Peer(after_handshake=reply(4242, 1, 0)), Peer(handshake="silent"))
    server.add_node("/a", b"fine")
    client = env.client(server, timeout=5.0)
    answered, give_up = threading.Event(), threading.Event()

    def answer_late() -> None:
        server.wait_for(lambda: give_up.is_set() or server.conns[1:] and server.conns[1].connect)
        if give_up.is_set():
            return
        time.sleep(0.3)  # not a synchronisation: it keeps the client SUSPENDED for a while
        server.resume(1)
        answered.set()

    helper = threading.Thread(target=answer_late, daemon=True)
    helper.start()
    try:
        client.start(timeout=5)
        assert answered.is_set()  # start() returned only after the second handshake
        assert client.connected
        assert _get(client) == b"fine"
    finally:
        give_up.set()
        server.poke()
        helper.join(5.0)
    env.finish()


def test_auth_failure_reply_means_auth_failed_without_a_hang(env: Env) -> None:
    def refuse(server: FakeZooKeeper, conn: Conn, req: Request) -> None:
        conn.send(reply(req.xid, 0, -115))
        conn.close()

    server = env.server()
    server.add_node("/a", b"fine")
    server.script(Peer(on_request=on_op(OP_AUTH, refuse)))
    client, states = _connected_client(env, server)

    with pytest.raises(AuthFailedError):
        client.add_auth("digest", "alice:wrong")

    states.wait_for(LOST)
    # API.md §2.1.4: AUTH_FAILED is final and the client "ends in CLOSED"; while it reports
    # AUTH_FAILED calls fail with AuthFailedError, once CLOSED with ConnectionClosedError.
    with pytest.raises((AuthFailedError, ConnectionClosedError)) as info:
        client.get_async("/a").get(timeout=5)
    if isinstance(info.value, AuthFailedError):
        assert client.client_state == KeeperState.AUTH_FAILED
    else:
        assert client.client_state == KeeperState.CLOSED, (
            f"{type(info.value).__name__} raised while client_state is {client.client_state}"
        )
    assert len(server.requests(OP_AUTH)) == 1
    assert server.connection_count == 1  # final: no reconnection
    env.finish()


# -- the client-side LOST timer (DESIGN.md §3, API.md §2.1.4) --------------------------------


def test_lost_timer_when_the_server_disappears(env: Env) -> None:
    negotiated = 1.0
    server = env.server(timeout_ms=int(negotiated * 1000))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server, timeout=negotiated)
    ((old_sid, _),) = server.sessions.items()
    watcher = Recorder()
    client.get_async("/a", watch=watcher).get(timeout=5)

    server.vanish()
    gone = time.monotonic()
    suspended = states.wait_for(SUSPENDED)
    queued = client.get_async("/a")
    lost = states.wait_for(LOST, start=suspended, timeout=negotiated + 3.0)

    lost_after = states.times[lost] - gone
    assert negotiated / 2 <= lost_after <= negotiated + 1.0
    assert client.client_state == KeeperState.EXPIRED_SESSION  # no server to reconnect to
    with pytest.raises(SessionExpiredError):
        queued.get(timeout=2)
    watcher.wait_for(WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None))

    # The server comes back: the client makes a new session by itself.
    server.revive()
    states.wait_for(CONNECTED, start=lost, timeout=5.0)
    assert client.client_id is not None and client.client_id[0] != old_sid
    assert _get(client) == b"fine"
    env.finish()


def test_lost_timer_then_the_old_session_is_closed_when_a_server_answers(env: Env) -> None:
    # DESIGN.md §3: "After such a timer-LOST the old session is abandoned (closed if a server
    # can be reached) and a new one is made".
    server = env.server(timeout_ms=1000)
    client, states = _connected_client(env, server, timeout=1.0)
    ((old_sid, old_passwd),) = server.sessions.items()

    server.vanish()
    states.wait_for(LOST, start=states.wait_for(SUSPENDED), timeout=4.0)
    server.revive()
    states.wait_for(CONNECTED, start=states.wait_for(LOST), timeout=5.0)

    server.wait_for(
        lambda: old_sid in server.closed_sessions, timeout=2.0, what="closeSession of the old one"
    )
    assert server.closed_sessions == [old_sid]  # and no other session was made and closed
    new_sid = client.client_id[0] if client.client_id else None
    assert new_sid is not None and new_sid != old_sid
    env.finish()


# -- random bytes after the handshake (Hypothesis) --------------------------------------------

_SPECIAL_XIDS = st.sampled_from([-1, -2, -4, -8, 0, 4096, 0x7FFFFFFF, -0x80000000])
_ERRS = st.sampled_from([0, -4, -101, -112, -115, -999, 1])
_framed = st.builds(
    lambda xid, zxid, err, body: reply(xid, zxid, err, body),
    _SPECIAL_XIDS,
    st.integers(-(2**63), 2**63 - 1),
    _ERRS,
    st.binary(max_size=40),
)
_garbage = st.one_of(
    st.binary(min_size=1, max_size=64),
    _framed,
    st.lists(_framed, min_size=1, max_size=3).map(b"".join),
    st.builds(lambda body: frame(body), st.binary(max_size=40)),
)


def _frame_headers(garbage: bytes) -> list[tuple[int, int]]:
    """``(xid, err)`` of the frames the garbage holds from its start (a trailing partial
    frame counts when its ReplyHeader is complete), up to the first unparsable length."""
    out = []
    pos = 0
    while len(garbage) - pos >= 4:
        (length,) = _INT.unpack_from(garbage, pos)
        if length < 16 or len(garbage) - pos - 4 < 16:
            break
        xid, _zxid, err = struct.unpack_from(">iqi", garbage, pos + 4)
        out.append((xid, err))
        pos += 4 + length
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(garbage=_garbage)
def test_random_bytes_after_the_handshake_have_only_documented_outcomes(garbage: bytes) -> None:
    headers = _frame_headers(garbage)
    # A frame carrying the xid of the next request would be a genuine answer to it.
    assume(not any(0 < xid < 1000 for xid, _err in headers))
    env = Env()
    try:
        server = env.server(timeout_ms=600)
        server.add_node("/a", b"fine")
        client = env.client(server, timeout=5.0)
        client.start(timeout=5)
        assert _get(client) == b"fine"

        server.conn(0).send(garbage)  # a fresh connection per example, nothing in flight
        try:
            _get(client)
            event("first get answered")
        except (ConnectionLoss, SessionExpiredError) as exc:
            event(f"first get failed: {type(exc).__name__}")
        except (AuthFailedError, ConnectionClosedError):
            # an AuthPacket reply with an error: AUTH_FAILED is final (API.md §2.1.4)
            assert any(xid == -4 and err != 0 for xid, err in headers)
            assert client.client_state in (KeeperState.AUTH_FAILED, KeeperState.CLOSED)
            event("auth failed")
            return

        for _attempt in range(3):  # the client keeps working on a (new) connection
            try:
                assert _get(client) == b"fine"
                break
            except (ConnectionLoss, SessionExpiredError):
                continue
        else:
            raise AssertionError("the client did not recover")
        event(f"connections: {server.connection_count}")
    finally:
        env.finish()


def test_close_session_is_sent_even_after_a_hostile_reply(env: Env) -> None:
    server = env.server()
    server.script(Peer(on_request=on_op(OP_GET_DATA, DROP_CASES["wrong-xid"])))
    server.add_node("/a", b"fine")
    client, states = _connected_client(env, server)
    with pytest.raises(ConnectionLoss):
        client.get_async("/a").get(timeout=5)
    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))

    client.stop()

    assert server.requests(OP_CLOSE, conn=1)
    assert client.state == LOST and client.client_state == KeeperState.CLOSED
    env.finish()


def test_stop_against_a_peer_that_never_answers_close_but_keeps_talking(env: Env) -> None:
    # The peer swallows closeSession and keeps the link busy with notifications (for a path
    # nobody watches), so no read timeout ever fires. stop() may raise the documented
    # WriterNotClosedException at its bound, but must not leave the I/O thread and its
    # socket running (API.md §2.1.3; DESIGN.md §3 "never a hang").
    server = env.server(timeout_ms=1200)
    server.script(Peer(on_request=on_op(OP_CLOSE, lambda server, conn, req: None)))
    client, _states = _connected_client(env, server, timeout=1.2)
    conn = server.conn(0)
    quiet = threading.Event()

    def chatter() -> None:
        while not quiet.wait(0.1):  # pacing, not synchronisation
            conn.send(watch_event(3, 3, "/nobody-watches-this"))

    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        started = time.monotonic()
        try:
            client.stop()
        except WriterNotClosedException:
            pass
        assert time.monotonic() - started < 10.0 + 1.0
        server.wait_for_request(OP_CLOSE)
        # the connection must be gone now, whatever the peer keeps sending
        server.wait_for_client_close(0, timeout=1.0)
    finally:
        quiet.set()
        talker.join(5.0)
    env.finish()
