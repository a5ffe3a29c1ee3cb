"""Unit tests for the sans-I/O session core, kazoo.protocol.session.

The session is driven by hand: server bytes are built here with ``struct`` and the
client's bytes are decoded with the codec's jute ``Reader``. No sockets, threads or
sleeping: every ``now`` is a number chosen by the test.
(DESIGN.md §2-3, PROTOCOL.md §2-3, §8, §10, §13, API.md §2.1.4, §3.1.)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kazoo._ops import Builders, Op, Paths
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionDropped,
    ConnectionLoss,
    KazooException,
    NoNodeError,
    ProtocolError,
    SessionExpiredError,
    UnknownZookeeperError,
)
from kazoo.protocol import serialization as ser
from kazoo.protocol._jute import Reader
from kazoo.protocol.session import (
    EV_RESULT,
    EV_STATE,
    EV_WATCH,
    TRANSITIONS,
    Pending,
    Session,
)
from kazoo.protocol.states import (
    AddWatchMode,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    ZnodeStat,
    to_kazoo_state,
)
from kazoo.protocol.watches import WatchKind
from kazoo.security import OPEN_ACL_UNSAFE

KS = KeeperState
ZERO16 = b"\x00" * 16
PASSWD = bytes(range(1, 17))
SID = 0x0100_0004_8D95_0000
STAT = ZnodeStat(11, 12, 1000, 2000, 3, 4, 5, 0, 6, 7, 13)

# wire EventType codes
CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4


# --------------------------------------------------------------------------- server bytes


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def ustr(s: str) -> bytes:
    raw = s.encode("utf-8")
    return i32(len(raw)) + raw


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def stat_bytes(s: ZnodeStat = STAT) -> bytes:
    return struct.pack(">qqqqiiiqiiq", *s)


def connect_response(
    timeout: int = 30000, sid: int = SID, passwd: bytes = PASSWD, read_only: bool = False
) -> bytes:
    head = struct.pack(">iiq", 0, timeout, sid)
    return frame(head + i32(len(passwd)) + passwd + (b"\x01" if read_only else b"\x00"))


def reply(xid: int, zxid: int = 0, err: int = 0, body: bytes = b"") -> bytes:
    return frame(struct.pack(">iqi", xid, zxid, err) + body)


def watch_event(etype: int, path: str) -> bytes:
    return reply(-1, -1, 0, struct.pack(">ii", etype, 3) + ustr(path))


def children_body(names: list[str]) -> bytes:
    return i32(len(names)) + b"".join(ustr(n) for n in names)


# --------------------------------------------------------------------------- client bytes


def split_frames(data: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from(">i", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    assert pos == len(data), "trailing partial frame in client output"
    return out


class Sent(NamedTuple):
    xid: int
    type: int
    body: Reader


def sent(data: bytes) -> list[Sent]:
    """Decode request frames: RequestHeader (xid, type) and a Reader over the body."""
    result = []
    for payload in split_frames(data):
        xid, op = struct.unpack_from(">ii", payload, 0)
        result.append(Sent(xid, op, Reader(payload, 8)))
    return result


class ConnectReq(NamedTuple):
    protocol: int
    last_zxid: int
    timeout: int
    session_id: int
    passwd: bytes | None
    read_only: bool
    frame_len: int


def decode_connect(data: bytes) -> ConnectReq:
    (length,) = struct.unpack_from(">i", data, 0)
    assert length == len(data) - 4
    r = Reader(data, 4)
    fields = (r.read_int(), r.read_long(), r.read_int(), r.read_long(), r.read_buffer())
    ro = r.read_bool()
    assert r.remaining() == 0
    return ConnectReq(*fields, ro, len(data))


def decode_set_watches(s: Sent) -> tuple[int, list[list[str] | None]]:
    r = s.body
    rel = r.read_long()
    n_lists = 3 if s.type == 101 else 5
    lists = [r.read_ustring_vector() for _ in range(n_lists)]
    assert r.remaining() == 0
    return rel, lists


# --------------------------------------------------------------------------- fixtures


class Handle:
    """A completion handle: any object will do; a name makes failures readable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<handle {self.name}>"


class Watcher:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, event: WatchedEvent) -> None:  # pragma: no cover - never called here
        pass

    def __repr__(self) -> str:
        return f"<watcher {self.name}>"


def builders(chroot: str = "") -> Builders:
    return Builders(Paths(chroot), lambda: OPEN_ACL_UNSAFE)


def pend(op: Op, handle: Any) -> Pending:
    return Pending(op.request, handle, op.post, op.watch)


def results(s: Session) -> dict[Any, tuple[Any, BaseException | None]]:
    out: dict[Any, tuple[Any, BaseException | None]] = {}
    for ev in s.events:
        if ev[0] == EV_RESULT:
            assert ev[1] not in out, f"{ev[1]} completed twice"
            out[ev[1]] = (ev[2], ev[3])
    return out


def watch_events(s: Session) -> list[tuple[Any, WatchedEvent]]:
    return [(ev[1], ev[2]) for ev in s.events if ev[0] == EV_WATCH]


def states(s: Session) -> list[KeeperState]:
    return [ev[1] for ev in s.events if ev[0] == EV_STATE]


def new_session(**kw: Any) -> Session:
    kw.setdefault("timeout_ms", 30000)
    return Session(**kw)


def handshake(
    s: Session,
    now: float = 0.0,
    *,
    timeout: int = 30000,
    sid: int = SID,
    passwd: bytes = PASSWD,
    read_only: bool = False,
    handshake_timeout: float = 10.0,
) -> ConnectReq:
    """Connect (starting the session if needed) and answer the handshake and auth replay."""
    if s.state is KS.CLOSED:
        s.start(now)
    req = decode_connect(s.begin_connect(now, handshake_timeout))
    s.data_received(connect_response(timeout, sid, passwd, read_only), now)
    for _ in range(len(list(s.auth_data))):
        s.data_received(reply(-4), now)
    return req


def connected(now: float = 0.0, **kw: Any) -> Session:
    timeout = kw.pop("negotiated", 30000)
    s = new_session(**kw)
    handshake(s, now, timeout=timeout)
    assert s.state is KS.CONNECTED
    s.take_output(now)
    s.events.clear()
    return s


def submit(s: Session, op: Op, name: str, now: float = 0.0) -> tuple[Handle, list[Sent]]:
    h = Handle(name)
    s.submit(pend(op, h))
    return h, sent(s.take_output(now))


def serve(s: Session, data: bytes, now: float = 0.0) -> None:
    s.data_received(data, now)


# =========================================================================== state table


ALL_INPUTS = ("start", "connected", "connected_ro", "expired", "auth_failed", "dropped", "close")


class SpySession(Session):
    seen: set[tuple[KeeperState, str]]

    def _transition(self, event: str) -> None:
        self.seen.add((self.state, event))
        super()._transition(event)


def _spy(**kw: Any) -> SpySession:
    kw.setdefault("timeout_ms", 30000)
    s = SpySession(**kw)
    s.seen = set()
    return s


def _drive_every_transition() -> set[tuple[KeeperState, str]]:
    seen: set[tuple[KeeperState, str]] = set()
    b = builders()

    # (CLOSED, close): stop a client that never started
    s = _spy()
    s.close(None)
    seen |= s.seen

    # start, connected, dropped from CONNECTED, close from CONNECTING
    s = _spy()
    handshake(s)
    s.connection_lost(1)
    s.close(None)
    seen |= s.seen

    # connected_ro, dropped from CONNECTED_RO
    s = _spy(read_only=True)
    handshake(s, read_only=True)
    s.connection_lost(1)
    seen |= s.seen

    # close from CONNECTED and from CONNECTED_RO (the server answers closeSession)
    for ro in (False, True):
        s = _spy(read_only=ro)
        handshake(s, read_only=ro)
        s.take_output(0)
        s.close(Handle("close"))
        (close,) = sent(s.take_output(0))
        serve(s, reply(close.xid))
        seen |= s.seen

    # auth_failed from CONNECTING (replay refused)
    s = _spy(auth_data=[("digest", "u:bad")])
    s.start(0)
    s.begin_connect(0, 10)
    serve(s, connect_response())
    serve(s, reply(-4, 0, -115))
    # close from AUTH_FAILED
    s.close(None)
    seen |= s.seen

    # auth_failed from CONNECTED and CONNECTED_RO (add_auth refused)
    for ro in (False, True):
        s = _spy(read_only=ro)
        handshake(s, read_only=ro)
        s.submit(pend(b.auth("digest", "u:bad"), Handle("auth")))
        serve(s, reply(-4, 0, -115))
        seen |= s.seen

    # expired from CONNECTING, dropped from EXPIRED_SESSION, close from EXPIRED_SESSION
    s = _spy()
    handshake(s)
    s.connection_lost(1)
    s.begin_connect(2, 10)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16))
    s.close(None)
    seen |= s.seen
    s = _spy()
    handshake(s)
    s.connection_lost(1)
    s.begin_connect(2, 10)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16))
    s.connection_lost(3)
    seen |= s.seen

    # start from EXPIRED_SESSION (restart after the client-side LOST timer)
    s = _spy()
    handshake(s)
    s.connection_lost(1)
    s.expire_by_timer(100)
    s.start(101)
    seen |= s.seen
    return seen


def test_every_listed_transition_is_reachable_through_the_public_api() -> None:
    seen = _drive_every_transition()
    assert seen <= set(TRANSITIONS), f"unlisted inputs applied: {seen - set(TRANSITIONS)}"
    # (CONNECTING, "dropped") is a listed no-op self loop that the session never applies:
    # losing a connection that never reached CONNECTED changes no state (see next test).
    assert set(TRANSITIONS) - seen == {(KS.CONNECTING, "dropped")}


def test_losing_a_connection_while_connecting_keeps_connecting_without_an_event() -> None:
    s = new_session()
    s.start(0)
    s.begin_connect(0, 10)
    s.events.clear()
    s.connection_lost(1)
    assert s.state is KS.CONNECTING
    assert s.events == []


@pytest.mark.parametrize(("state", "event"), sorted(TRANSITIONS, key=str))
def test_listed_transition_goes_to_its_target_and_announces_only_changes(
    state: KeeperState, event: str
) -> None:
    s = new_session()
    s.state = state
    s._transition(event)
    target = TRANSITIONS[(state, event)]
    assert s.state is target
    assert s.events == ([] if target is state else [(EV_STATE, target)])


UNLISTED = [(st_, ev) for st_ in KeeperState for ev in ALL_INPUTS if (st_, ev) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "event"), UNLISTED)
def test_unlisted_transition_raises_runtime_error(state: KeeperState, event: str) -> None:
    s = new_session()
    s.state = state
    with pytest.raises(RuntimeError, match=event):
        s._transition(event)
    assert s.state is state
    assert s.events == []


def test_start_twice_is_an_unlisted_transition() -> None:
    s = new_session()
    s.start(0)
    with pytest.raises(RuntimeError):
        s.start(1)
    assert s.state is KS.CONNECTING


def test_close_is_listed_from_every_state() -> None:
    for state in KeeperState:
        assert TRANSITIONS[(state, "close")] is KS.CLOSED


# =========================================================================== handshake


def test_connect_request_fields_of_a_new_session() -> None:
    s = new_session(timeout_ms=12345, read_only=True)
    s.start(0)
    req = decode_connect(s.begin_connect(0, 5))
    assert req == ConnectReq(0, 0, 12345, 0, ZERO16, True, 49)


def test_connect_request_read_only_byte_is_zero_by_default() -> None:
    s = new_session()
    s.start(0)
    req = decode_connect(s.begin_connect(0, 5))
    assert req.read_only is False
    assert req.frame_len == 49


def test_connect_request_resumes_a_given_client_id() -> None:
    s = new_session(client_id=(77, b"k" * 16))
    s.start(0)
    req = decode_connect(s.begin_connect(0, 5))
    assert (req.session_id, req.passwd) == (77, b"k" * 16)


def test_connect_response_announces_connected_and_keeps_the_session() -> None:
    s = new_session()
    s.start(0)
    assert s.events == [(EV_STATE, KS.CONNECTING)]
    s.begin_connect(0, 10)
    assert not s.usable
    serve(s, connect_response(timeout=8000, sid=SID, passwd=PASSWD))
    assert s.events == [(EV_STATE, KS.CONNECTING), (EV_STATE, KS.CONNECTED)]
    assert s.state is KS.CONNECTED
    assert (s.session_id, s.passwd) == (SID, PASSWD)
    assert s.negotiated_timeout_ms == 8000
    assert s.usable


def test_connect_response_fed_one_byte_at_a_time() -> None:
    s = new_session()
    s.start(0)
    s.begin_connect(0, 10)
    data = connect_response()
    for i in range(len(data) - 1):
        serve(s, data[i : i + 1])
        assert s.state is KS.CONNECTING
    serve(s, data[-1:])
    assert s.state is KS.CONNECTED


def test_negotiated_timeout_is_used_by_next_deadline() -> None:
    s = new_session(timeout_ms=30000)
    s.start(100)
    s.begin_connect(100, 7)
    assert s.next_deadline() == 107  # handshake deadline
    serve(s, connect_response(timeout=6000), 100)
    assert s.timeout_s == 6.0
    # ping due 6/3 s after the last send; read deadline 2/3 * 6 s after the last receive
    assert s.next_deadline() == pytest.approx(102.0)
    s.check_timers(101.99)
    assert s.take_output(101.99) == b""
    s.check_timers(102.0)
    assert [(f.xid, f.type) for f in sent(s.take_output(102.0))] == [(-2, 11)]
    # after that send only the read deadline (100 + 4) is left before the next ping (104)
    assert s.next_deadline() == pytest.approx(104.0)


def _session_with_watches_and_requests() -> tuple[Session, dict[str, Any]]:
    """Connected, a data watch on /d, an exist watch on /e and a child watch on /c
    (same watcher on /d and /c), then disconnected with one queued request."""
    b = builders()
    s = connected()
    w1, w2 = Watcher("w1"), Watcher("w2")
    h1, out1 = submit(s, b.get("/d", w1), "get")
    serve(s, reply(out1[0].xid, 5, 0, ustr("v") + stat_bytes()))
    h2, out2 = submit(s, b.exists("/e", w2), "exists")
    serve(s, reply(out2[0].xid, 6, -101))
    h3, out3 = submit(s, b.get_children("/c", w1), "children")
    serve(s, reply(out3[0].xid, 7, 0, children_body(["k"])))
    assert len(s.watches) == 3
    s.connection_lost(1)
    queued = Handle("queued")
    s.submit(pend(b.get("/q"), queued))
    assert s.take_output(1) == b""
    s.events.clear()
    return s, {"w1": w1, "w2": w2, "queued": queued}


def test_expired_session_at_handshake_fails_requests_and_drains_watches_once() -> None:
    s, ctx = _session_with_watches_and_requests()
    s.begin_connect(2, 10)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16), 2)
    assert s.state is KS.EXPIRED_SESSION
    assert states(s) == [KS.EXPIRED_SESSION]
    value, exc = results(s)[ctx["queued"]]
    assert value is None and type(exc) is SessionExpiredError
    gone = WatchedEvent(EventType.NONE, KS.EXPIRED_SESSION, None)
    # w1 had two registrations (/d and /c) and is still told once
    assert watch_events(s) == [(ctx["w1"], gone), (ctx["w2"], gone)]
    assert len(s.watches) == 0
    assert (s.session_id, s.passwd) == (0, ZERO16)
    assert s.finished
    assert not s.queued and not s.inflight
    assert to_kazoo_state(KS.EXPIRED_SESSION, KazooState.SUSPENDED) is KazooState.LOST


def test_after_expiry_the_next_connection_makes_a_fresh_session() -> None:
    s, _ = _session_with_watches_and_requests()
    s.begin_connect(2, 10)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16), 2)
    s.connection_lost(3)
    s.events.clear()
    req = decode_connect(s.begin_connect(4, 10))
    assert (req.session_id, req.passwd, req.last_zxid) == (0, ZERO16, 0)
    serve(s, connect_response(sid=999), 4)
    assert s.state is KS.CONNECTED
    assert s.session_id == 999
    # nothing left to re-register and no persistent re-arm events
    assert s.take_output(4) == b""
    assert watch_events(s) == []


def test_a_request_submitted_after_expiry_waits_for_the_new_session() -> None:
    s, _ = _session_with_watches_and_requests()
    s.begin_connect(2, 10)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16), 2)
    h = Handle("later")
    s.submit(pend(builders().get("/z"), h))
    assert h not in results(s)
    s.connection_lost(3)
    handshake(s, 4, sid=999)
    (req,) = sent(s.take_output(4))
    assert req.type == 4 and req.body.read_str() == "/z"


def test_short_first_frame_is_a_protocol_error() -> None:
    s = new_session(read_only=True)
    s.start(0)
    s.begin_connect(0, 10)
    with pytest.raises(ProtocolError):
        serve(s, reply(0, 0, -119))  # a read-only server's 16-byte error header
    assert s.state is KS.CONNECTING


# =========================================================================== connect order


def test_queued_requests_go_after_auth_replay_and_set_watches() -> None:
    auth: list[tuple[str, str]] = []
    s = new_session(auth_data=auth)
    b = builders()
    handshake(s)
    s.take_output(0)
    w = Watcher("w")
    _, out = submit(s, b.get("/d", w), "get")
    serve(s, reply(out[0].xid, 0x41, 0, ustr("v") + stat_bytes()))
    _, out = submit(s, b.exists("/e", w), "exists")
    serve(s, reply(out[0].xid, 0x40, -101))  # a lower zxid: last_zxid stays 0x41
    _, out = submit(s, b.get_children("/c", w), "children")
    serve(s, reply(out[0].xid, 0, 0, children_body([])))
    s.connection_lost(1)
    auth.extend([("digest", "alice:secret"), ("ip", "1.2.3.4")])  # e.g. add_auth while down
    queued = [Handle("q1"), Handle("q2")]
    s.submit(pend(b.get("/q1"), queued[0]))
    s.submit(pend(b.sync("/q2"), queued[1]))
    s.events.clear()

    req = decode_connect(s.begin_connect(2, 10))
    assert (req.session_id, req.passwd, req.last_zxid) == (SID, PASSWD, 0x41)
    serve(s, connect_response(), 2)
    frames = sent(s.take_output(2))
    assert [(f.xid, f.type) for f in frames] == [(-4, 100), (-4, 100)]
    decoded = [(f.body.read_int(), f.body.read_str(), f.body.read_buffer()) for f in frames]
    assert decoded == [(0, "digest", b"alice:secret"), (0, "ip", b"1.2.3.4")]
    assert s.events == []  # CONNECTED only after the auth replies
    assert s.state is KS.CONNECTING

    serve(s, reply(-4), 2)
    assert s.events == [] and s.take_output(2) == b""
    serve(s, reply(-4), 2)
    assert states(s) == [KS.CONNECTED]
    frames = sent(s.take_output(2))
    assert [(f.xid, f.type) for f in frames] == [(-8, 101), (frames[1].xid, 4), (frames[2].xid, 9)]
    rel, lists = decode_set_watches(frames[0])
    assert rel == 0x41
    assert lists == [["/d"], ["/e"], ["/c"]]
    assert 0 < frames[1].xid < frames[2].xid
    assert frames[1].body.read_str() == "/q1"
    assert frames[2].body.read_str() == "/q2"


def test_set_watches_lists_hold_server_paths_under_a_chroot() -> None:
    s = connected(chroot="/app")
    b = builders("/app")
    w = Watcher("w")
    _, out = submit(s, b.get("/x", w), "get")
    serve(s, reply(out[0].xid, 3, 0, ustr("v") + stat_bytes()))
    _, out = submit(s, b.exists("/", w), "exists")
    serve(s, reply(out[0].xid, 4, 0, stat_bytes()))
    s.connection_lost(1)
    handshake(s, 2)
    (frame_,) = sent(s.take_output(2))
    rel, lists = decode_set_watches(frame_)
    assert rel == 4
    assert lists == [["/app/x", "/app"], [], []]


def test_auth_failure_during_replay_fails_everything_and_is_final() -> None:
    s, ctx = _session_with_watches_and_requests()
    s.auth_data = [("digest", "alice:wrong")]
    s.begin_connect(2, 10)
    serve(s, connect_response(), 2)
    (auth,) = sent(s.take_output(2))
    assert (auth.xid, auth.type) == (-4, 100)
    serve(s, reply(-4, 0, -115), 2)
    assert s.state is KS.AUTH_FAILED
    assert states(s) == [KS.AUTH_FAILED]  # never CONNECTED
    value, exc = results(s)[ctx["queued"]]
    assert value is None and isinstance(exc, AuthFailedError)
    failed = WatchedEvent(EventType.NONE, KS.AUTH_FAILED, None)
    assert watch_events(s) == [(ctx["w1"], failed), (ctx["w2"], failed)]
    assert len(s.watches) == 0
    assert s.finished
    # the queued request was not sent: no SetWatches either
    assert s.take_output(2) == b""
    h = Handle("after")
    s.submit(pend(builders().get("/x"), h))
    value, exc = results(s)[h]
    assert value is None and isinstance(exc, AuthFailedError)
    assert to_kazoo_state(KS.AUTH_FAILED, KazooState.SUSPENDED) is KazooState.LOST


def test_add_auth_while_connected_completes_on_its_reply() -> None:
    s = connected()
    h, out = submit(s, builders().auth("digest", "bob:pw"), "auth")
    assert [(f.xid, f.type) for f in out] == [(-4, 100)]
    serve(s, reply(-4))
    assert results(s)[h] == (True, None)
    assert s.state is KS.CONNECTED


def test_add_auth_refused_while_connected_goes_auth_failed() -> None:
    s = connected()
    b = builders()
    w = Watcher("w")
    _, out = submit(s, b.get("/d", w), "get")
    serve(s, reply(out[0].xid, 1, 0, ustr("v") + stat_bytes()))
    h, _ = submit(s, b.auth("digest", "bob:pw"), "auth")
    other, _ = submit(s, b.get("/x"), "other")
    s.events.clear()
    serve(s, reply(-4, 0, -115))
    res = results(s)
    assert isinstance(res[h][1], AuthFailedError)
    assert isinstance(res[other][1], AuthFailedError)
    assert watch_events(s) == [(w, WatchedEvent(EventType.NONE, KS.AUTH_FAILED, None))]
    assert states(s) == [KS.AUTH_FAILED]


def test_eof_right_after_add_auth_is_an_auth_failure() -> None:
    s = connected()
    h, _ = submit(s, builders().auth("digest", "bob:pw"), "auth")
    s.connection_lost(1)
    assert s.state is KS.AUTH_FAILED
    assert isinstance(results(s)[h][1], AuthFailedError)


def test_eof_during_auth_replay_twice_in_a_row_is_an_auth_failure() -> None:
    s = new_session(auth_data=[("digest", "alice:pw")])
    s.start(0)
    queued = Handle("q")
    s.submit(pend(builders().get("/q"), queued))
    s.begin_connect(0, 10)
    serve(s, connect_response())
    s.take_output(0)
    s.connection_lost(1)  # once: maybe just a network fault, keep trying
    assert s.state is KS.CONNECTING
    assert queued not in results(s)
    s.begin_connect(2, 10)
    serve(s, connect_response(), 2)
    (auth,) = sent(s.take_output(2))
    assert auth.xid == -4
    s.connection_lost(3)
    assert s.state is KS.AUTH_FAILED
    assert isinstance(results(s)[queued][1], AuthFailedError)


# =========================================================================== replies


def test_in_order_replies_complete_the_right_handles() -> None:
    s = connected()
    b = builders()
    h1, o1 = submit(s, b.get("/a"), "get")
    h2, o2 = submit(s, b.exists("/b"), "exists")
    h3, o3 = submit(s, b.get_children("/c"), "children")
    h4, o4 = submit(s, b.create("/d/n-", b"x", sequence=True), "create")
    xids = [o[0].xid for o in (o1, o2, o3, o4)]
    assert xids == sorted(set(xids))
    serve(
        s,
        reply(xids[0], 1, 0, ustr("data") + stat_bytes())
        + reply(xids[1], 1, 0, stat_bytes())
        + reply(xids[2], 1, 0, children_body(["x", "y"]))
        + reply(xids[3], 2, 0, ustr("/d/n-0000000007")),
    )
    assert results(s) == {
        h1: ((b"data", STAT), None),
        h2: (STAT, None),
        h3: (["x", "y"], None),
        h4: ("/d/n-0000000007", None),
    }
    assert not s.inflight


def test_reply_with_an_unexpected_xid_is_a_protocol_error() -> None:
    s = connected()
    _, out = submit(s, builders().get("/a"), "get")
    with pytest.raises(ProtocolError):
        serve(s, reply(out[0].xid + 1, 1, 0, ustr("d") + stat_bytes()))


def test_reply_with_no_request_in_flight_is_a_protocol_error() -> None:
    s = connected()
    with pytest.raises(ProtocolError):
        serve(s, reply(1, 1, 0))


def test_malformed_reply_body_fails_the_request_and_raises_protocol_error() -> None:
    s = connected()
    h, out = submit(s, builders().get("/a"), "get")
    with pytest.raises(ProtocolError):
        serve(s, reply(out[0].xid, 1, 0, b"\x00\x00"))
    value, exc = results(s)[h]
    assert value is None and isinstance(exc, ConnectionLoss)


def test_last_zxid_rises_only_with_larger_positive_zxids() -> None:
    s = connected()
    b = builders()
    assert s.last_zxid == 0
    for zxid, expected in ((10, 10), (0, 10), (-1, 10), (7, 10), (12, 12)):
        _, out = submit(s, b.exists("/a"), "e")
        serve(s, reply(out[0].xid, zxid, 0, stat_bytes()))
        assert s.last_zxid == expected, zxid
    # watch notifications (zxid -1 on 3.8) and pings never move it
    serve(s, watch_event(CHANGED, "/a") + reply(-2, 99, 0))
    assert s.last_zxid == 12


def test_unknown_error_code_fails_only_that_request() -> None:
    s = connected()
    b = builders()
    h1, o1 = submit(s, b.get("/a"), "odd")
    h2, o2 = submit(s, b.exists("/b"), "fine")
    serve(s, reply(o1[0].xid, 1, -999) + reply(o2[0].xid, 2, 0, stat_bytes()))
    res = results(s)
    value, exc = res[h1]
    assert value is None
    assert isinstance(exc, UnknownZookeeperError)
    assert exc.code == -999
    assert res[h2] == (STAT, None)
    assert s.state is KS.CONNECTED


def test_known_error_code_maps_to_its_exception() -> None:
    s = connected()
    h, out = submit(s, builders().get("/a"), "get")
    serve(s, reply(out[0].xid, 1, -101))
    assert isinstance(results(s)[h][1], NoNodeError)


def test_exists_on_missing_node_gives_none_and_leaves_an_exist_watch() -> None:
    s = connected()
    w = Watcher("w")
    h, out = submit(s, builders().exists("/n", w), "exists")
    assert out[0].body.read_str() == "/n" and out[0].body.read_bool() is True
    serve(s, reply(out[0].xid, 1, -101))
    assert results(s)[h] == (None, None)
    assert s.watches.count(WatchKind.EXIST, "/n") == 1
    s.events.clear()
    serve(s, watch_event(CREATED, "/n"))
    assert watch_events(s) == [(w, WatchedEvent(EventType.CREATED, KS.CONNECTED, "/n"))]
    assert len(s.watches) == 0  # one-shot


def test_exists_on_existing_node_leaves_a_data_watch() -> None:
    s = connected()
    w = Watcher("w")
    _, out = submit(s, builders().exists("/n", w), "exists")
    serve(s, reply(out[0].xid, 1, 0, stat_bytes()))
    assert s.watches.count(WatchKind.DATA, "/n") == 1
    serve(s, watch_event(CHANGED, "/n"))
    assert watch_events(s) == [(w, WatchedEvent(EventType.CHANGED, KS.CONNECTED, "/n"))]


@pytest.mark.parametrize("op_name", ["get", "get_children"])
def test_read_on_missing_node_registers_no_watch(op_name: str) -> None:
    s = connected()
    w = Watcher("w")
    h, out = submit(s, getattr(builders(), op_name)("/n", w), op_name)
    serve(s, reply(out[0].xid, 1, -101))
    assert isinstance(results(s)[h][1], NoNodeError)
    assert len(s.watches) == 0
    s.events.clear()
    for etype in (CREATED, DELETED, CHANGED, CHILD):
        serve(s, watch_event(etype, "/n"))
    assert watch_events(s) == []


def _fan_out_session() -> tuple[Session, dict[str, Watcher]]:
    """Watchers of every kind: data, exist, child and persistent on /n; recursive on /."""
    s = connected()
    b = builders()
    ws = {k: Watcher(k) for k in ("data", "exist", "child", "persistent", "recursive")}
    _, out = submit(s, b.get("/n", ws["data"]), "d")
    serve(s, reply(out[0].xid, 1, 0, ustr("v") + stat_bytes()))
    _, out = submit(s, b.exists("/n", ws["exist"]), "e")
    serve(s, reply(out[0].xid, 1, -101))
    _, out = submit(s, b.get_children("/n", ws["child"]), "c")
    serve(s, reply(out[0].xid, 1, 0, children_body([])))
    _, out = submit(s, b.add_watch("/n", ws["persistent"], AddWatchMode.PERSISTENT), "p")
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    _, out = submit(s, b.add_watch("/", ws["recursive"], AddWatchMode.PERSISTENT_RECURSIVE), "r")
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    s.events.clear()
    return s, ws


FAN_OUT = {  # PROTOCOL.md §8.3 and §8.4
    CREATED: ["data", "exist", "persistent", "recursive"],
    CHANGED: ["data", "exist", "persistent", "recursive"],
    DELETED: ["data", "exist", "child", "persistent", "recursive"],
    CHILD: ["child", "persistent"],
}
EVENT_TYPES = {
    CREATED: EventType.CREATED,
    DELETED: EventType.DELETED,
    CHANGED: EventType.CHANGED,
    CHILD: EventType.CHILD,
}


@pytest.mark.parametrize("etype", sorted(FAN_OUT))
def test_watch_event_fans_out_per_protocol_8_3(etype: int) -> None:
    s, ws = _fan_out_session()
    serve(s, watch_event(etype, "/n"))
    event = WatchedEvent(EVENT_TYPES[etype], KS.CONNECTED, "/n")
    assert sorted(w.name for w, _ in watch_events(s)) == sorted(FAN_OUT[etype])
    assert all(ev == event for _, ev in watch_events(s))
    # the one-shot watchers are used up, the persistent ones stay
    s.events.clear()
    serve(s, watch_event(etype, "/n"))
    persistent = {"persistent", "recursive"}
    assert sorted(w.name for w, _ in watch_events(s)) == sorted(
        k for k in FAN_OUT[etype] if k in persistent
    )


def test_recursive_watch_sees_descendants_but_not_child_events() -> None:
    s, ws = _fan_out_session()
    serve(s, watch_event(CREATED, "/n/deep/er"))
    assert watch_events(s) == [
        (ws["recursive"], WatchedEvent(EventType.CREATED, KS.CONNECTED, "/n/deep/er"))
    ]
    s.events.clear()
    serve(s, watch_event(CHILD, "/n/deep"))
    assert watch_events(s) == []


@pytest.mark.parametrize(
    ("client_path", "server_path"),
    [("/x", "/app/x"), ("/", "/app"), ("/x/y", "/app/x/y")],
)
def test_watch_event_paths_are_unchrooted(client_path: str, server_path: str) -> None:
    s = connected(chroot="/app")
    w = Watcher("w")
    _, out = submit(s, builders("/app").get(client_path, w), "get")
    assert out[0].body.read_str() == server_path
    serve(s, reply(out[0].xid, 1, 0, ustr("v") + stat_bytes()))
    serve(s, watch_event(DELETED, server_path))
    assert watch_events(s) == [(w, WatchedEvent(EventType.DELETED, KS.CONNECTED, client_path))]


def test_chroot_prefix_without_a_slash_is_not_stripped() -> None:
    s = connected(chroot="/app")
    w = Watcher("w")
    _, out = submit(s, builders().add_watch("/", w, AddWatchMode.PERSISTENT_RECURSIVE), "r")
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    serve(s, watch_event(CREATED, "/apple"))
    assert watch_events(s) == [(w, WatchedEvent(EventType.CREATED, KS.CONNECTED, "/apple"))]


def test_unknown_watch_event_type_is_ignored() -> None:
    s, ws = _fan_out_session()
    serve(s, watch_event(9, "/n") + watch_event(-1, "/n"))
    assert watch_events(s) == []
    assert len(s.watches) == 5


def test_xids_wrap_to_one_after_the_largest_int() -> None:
    s = connected()
    s._xid = 2**31 - 2  # white box: skip two billion requests
    b = builders()
    xids = [submit(s, b.exists("/a"), f"e{i}")[1][0].xid for i in range(3)]
    assert xids == [2**31 - 1, 1, 2]


def test_remove_all_watches_refused_by_server_but_known_locally_is_success() -> None:
    s = connected()
    b = builders()
    w = Watcher("w")
    _, out = submit(s, b.get_children("/c", w), "c")
    serve(s, reply(out[0].xid, 1, 0, children_body([])))
    h, out = submit(s, b.remove_all_watches("/c", 1), "rm")
    serve(s, reply(out[0].xid, 2, -121))
    assert results(s)[h] == (True, None)
    assert len(s.watches) == 0
    h2, out = submit(s, b.remove_all_watches("/c", 1), "rm2")
    serve(s, reply(out[0].xid, 3, -121))
    assert type(results(s)[h2][1]).__name__ == "NoWatcherError"


# =========================================================================== connection loss


def test_connection_lost_fails_in_flight_keeps_queued_and_watches() -> None:
    s = new_session()
    b = builders()
    s.start(0)
    s.begin_connect(0, 10)
    early = Handle("early")
    s.submit(pend(b.get("/early"), early))  # during the handshake: queued
    assert s.take_output(0) == b""
    serve(s, connect_response())
    (first,) = sent(s.take_output(0))
    assert first.type == 4 and first.body.read_str() == "/early"
    w = Watcher("w")
    _, out = submit(s, b.get_children("/c", w), "children")
    serve(s, reply(first.xid, 3, 0, ustr("v") + stat_bytes()) + reply(out[0].xid, 4, 0, i32(0)))
    inflight, _ = submit(s, b.get("/a"), "inflight")
    s.events.clear()

    s.connection_lost(1)
    value, exc = results(s)[inflight]
    assert value is None and isinstance(exc, ConnectionLoss)
    assert states(s) == [KS.CONNECTING]
    assert to_kazoo_state(KS.CONNECTING, KazooState.CONNECTED) is KazooState.SUSPENDED
    assert watch_events(s) == []
    assert s.watches.count(WatchKind.CHILD, "/c") == 1

    waiting = Handle("waiting")
    s.submit(pend(b.get("/later"), waiting))
    assert s.take_output(1) == b""
    assert waiting not in results(s)

    req = decode_connect(s.begin_connect(2, 10))
    assert (req.session_id, req.passwd, req.last_zxid) == (SID, PASSWD, 4)
    serve(s, connect_response(), 2)
    frames = sent(s.take_output(2))
    assert [f.type for f in frames] == [101, 4]
    assert decode_set_watches(frames[0]) == (4, [[], [], ["/c"]])
    assert frames[1].body.read_str() == "/later"
    serve(s, reply(frames[1].xid, 5, 0, ustr("L") + stat_bytes()), 2)
    assert results(s)[waiting] == ((b"L", STAT), None)


def test_requests_queued_before_a_failed_handshake_stay_queued() -> None:
    s = new_session()
    s.start(0)
    s.begin_connect(0, 10)
    h = Handle("q")
    s.submit(pend(builders().get("/q"), h))
    s.connection_lost(1)
    assert h not in results(s)
    handshake(s, 2)
    (req,) = sent(s.take_output(2))
    assert req.body.read_str() == "/q"


def test_output_not_taken_before_a_loss_is_not_sent_on_the_next_connection() -> None:
    s = connected()
    h = Handle("unsent")
    s.submit(pend(builders().create("/x", b"v"), h))  # the driver had no chance to write it
    s.connection_lost(1)
    assert isinstance(results(s)[h][1], ConnectionLoss)
    s.begin_connect(2, 10)
    assert s.take_output(2) == b""  # nothing may follow the ConnectRequest yet
    serve(s, connect_response(), 2)
    assert s.take_output(2) == b""


def test_resumed_session_sends_the_same_id_and_password() -> None:
    s = connected()
    for i in range(3):
        s.connection_lost(1 + i)
        req = decode_connect(s.begin_connect(1 + i, 10))
        assert (req.session_id, req.passwd) == (SID, PASSWD)
        serve(s, connect_response(), 1 + i)
        assert s.state is KS.CONNECTED


def test_data_after_the_connection_is_gone_is_ignored() -> None:
    s = connected()
    _, out = submit(s, builders().get("/a"), "a")
    s.connection_lost(1)
    s.events.clear()
    serve(s, reply(out[0].xid, 1, 0, ustr("d") + stat_bytes()), 1)
    assert s.events == []


# =========================================================================== timers


def test_ping_after_a_third_of_the_timeout_without_sends() -> None:
    s = connected(negotiated=9000)
    s.check_timers(2.99)
    assert s.take_output(2.99) == b""
    s.check_timers(3.0)
    out = s.take_output(3.0)
    assert out == struct.pack(">iii", 8, -2, 11)
    # one ping at a time
    s.check_timers(3.5)
    assert s.take_output(3.5) == b""
    # its reply clears it; completes no request
    serve(s, reply(-2, 0, 0), 4.0)
    assert results(s) == {}
    s.check_timers(6.5)
    assert [(f.xid, f.type) for f in sent(s.take_output(6.5))] == [(-2, 11)]


def test_a_send_postpones_the_ping() -> None:
    s = connected(negotiated=9000)
    submit(s, builders().exists("/a"), "e", now=2.0)
    s.check_timers(3.0)
    assert s.take_output(3.0) == b""
    s.check_timers(5.0)
    assert [(f.xid, f.type) for f in sent(s.take_output(5.0))] == [(-2, 11)]


def test_silence_for_two_thirds_of_the_timeout_drops_the_connection() -> None:
    s = connected(negotiated=9000)
    s.check_timers(5.99)
    with pytest.raises(ConnectionDropped):
        s.check_timers(6.0)


def test_any_received_frame_resets_the_read_deadline() -> None:
    s = connected(negotiated=9000)
    serve(s, reply(-2, 0, 0), 5.0)  # e.g. a ping reply
    s.check_timers(10.99)
    with pytest.raises(ConnectionDropped):
        s.check_timers(11.0)


def test_handshake_timeout_drops_the_connection() -> None:
    s = new_session()
    s.start(10)
    s.begin_connect(10, 4)
    assert s.next_deadline() == 14
    s.check_timers(13.99)
    with pytest.raises(ConnectionDropped):
        s.check_timers(14.0)


def test_no_timers_without_a_connection() -> None:
    s = connected(negotiated=9000)
    s.connection_lost(1)
    s.check_timers(1000)  # nothing to ping, nothing to drop
    assert s.take_output(1000) == b""


def test_lost_timer_due_after_the_whole_timeout_without_hearing_a_server() -> None:
    s = connected(now=0, negotiated=9000)
    serve(s, reply(-2, 0, 0), 1.0)  # last heard at 1.0
    s.connection_lost(2.0)
    assert s.next_deadline() == pytest.approx(10.0)
    assert not s.lost_timer_due(9.99)
    assert s.lost_timer_due(10.0)
    # not while a connection is up or being made
    s.begin_connect(10.0, 5)
    assert not s.lost_timer_due(20.0)


def test_lost_timer_needs_a_session() -> None:
    s = new_session(timeout_ms=1000)
    s.start(0)
    assert not s.lost_timer_due(100)


def test_expire_by_timer_is_lost() -> None:
    s, ctx = _session_with_watches_and_requests()
    s.expire_by_timer(31.0)
    assert s.state is KS.EXPIRED_SESSION
    assert states(s) == [KS.EXPIRED_SESSION]
    value, exc = results(s)[ctx["queued"]]
    assert value is None and type(exc) is SessionExpiredError
    gone = WatchedEvent(EventType.NONE, KS.EXPIRED_SESSION, None)
    assert watch_events(s) == [(ctx["w1"], gone), (ctx["w2"], gone)]
    assert len(s.watches) == 0


def _abandon_connect(s: Session, now: float) -> ConnectReq:
    s.events.clear()
    return decode_connect(s.begin_connect(now, 10))


def test_after_timer_lost_the_abandoned_session_is_closed_then_a_fresh_one_made() -> None:
    s, _ = _session_with_watches_and_requests()
    s.expire_by_timer(31.0)
    _abandon_connect(s, 32.0)
    serve(s, connect_response(sid=SID, passwd=PASSWD), 32.0)
    (close,) = sent(s.take_output(32.0))
    assert close.type == -11 and close.xid > 0
    assert s.state is KS.CONNECTING  # not announced as CONNECTED
    serve(s, reply(close.xid, 9, 0), 32.0)
    assert s.finished
    assert (s.session_id, s.passwd) == (0, ZERO16)
    s.connection_lost(32.5)
    req = decode_connect(s.begin_connect(33.0, 10))
    assert (req.session_id, req.passwd, req.last_zxid) == (0, ZERO16, 0)
    serve(s, connect_response(sid=4242), 33.0)
    assert s.state is KS.CONNECTED and s.session_id == 4242
    assert s.take_output(33.0) == b""


def test_request_made_while_the_abandoned_session_closes_waits_for_the_new_one() -> None:
    s, _ = _session_with_watches_and_requests()
    s.expire_by_timer(31.0)
    _abandon_connect(s, 32.0)
    serve(s, connect_response(sid=SID, passwd=PASSWD), 32.0)
    (close,) = sent(s.take_output(32.0))
    h = Handle("meanwhile")
    s.submit(pend(builders().get("/m"), h))
    assert h not in results(s)
    serve(s, reply(close.xid, 9, 0), 32.0)
    s.connection_lost(32.5)
    s.begin_connect(33.0, 10)
    serve(s, connect_response(sid=4242), 33.0)
    (get,) = sent(s.take_output(33.0))
    assert get.type == 4 and get.body.read_str() == "/m"


def test_after_timer_lost_an_already_expired_old_session_is_simply_dropped() -> None:
    s, _ = _session_with_watches_and_requests()
    s.expire_by_timer(31.0)
    _abandon_connect(s, 32.0)
    serve(s, connect_response(timeout=0, sid=0, passwd=ZERO16), 32.0)
    assert s.finished
    assert states(s) == [KS.CONNECTING]  # no second EXPIRED_SESSION
    assert s.take_output(32.0) == b""
    s.connection_lost(32.5)
    req = decode_connect(s.begin_connect(33.0, 10))
    assert req.session_id == 0
    serve(s, connect_response(sid=4242), 33.0)
    assert s.state is KS.CONNECTED


def test_after_timer_lost_the_next_connection_names_the_old_session() -> None:
    s, _ = _session_with_watches_and_requests()
    s.expire_by_timer(31.0)
    req = _abandon_connect(s, 32.0)
    assert (req.session_id, req.passwd) == (SID, PASSWD)


# =========================================================================== close


def test_close_sends_close_session_and_its_reply_closes() -> None:
    s = connected()
    b = builders()
    w = Watcher("w")
    _, out = submit(s, b.get("/d", w), "get")
    serve(s, reply(out[0].xid, 1, 0, ustr("v") + stat_bytes()))
    s.events.clear()
    h = Handle("close")
    assert s.close(h) is True
    (close,) = sent(s.take_output(0))
    assert close.type == -11 and close.xid > out[0].xid
    assert close.body.remaining() == 0
    assert s.state is KS.CONNECTED  # until the reply
    late = Handle("late")
    s.submit(pend(b.get("/x"), late))
    assert isinstance(results(s)[late][1], ConnectionClosedError)
    assert s.take_output(0) == b""
    serve(s, reply(close.xid, 2, 0))
    assert results(s)[h] == (True, None)
    assert watch_events(s) == [(w, WatchedEvent(EventType.NONE, KS.CLOSED, None))]
    assert states(s) == [KS.CLOSED]
    assert s.state is KS.CLOSED and s.finished
    after = Handle("after")
    s.submit(pend(b.get("/x"), after))
    value, exc = results(s)[after]
    assert value is None and isinstance(exc, ConnectionClosedError)


def test_close_reply_with_an_error_still_closes() -> None:
    s = connected()
    h = Handle("close")
    s.close(h)
    (close,) = sent(s.take_output(0))
    serve(s, reply(close.xid, 0, -112))
    assert s.state is KS.CLOSED
    assert results(s)[h] == (True, None)


def test_connection_lost_while_closing_closes() -> None:
    s = connected()
    w = Watcher("w")
    _, out = submit(s, builders().get("/d", w), "get")
    serve(s, reply(out[0].xid, 1, 0, ustr("v") + stat_bytes()))
    s.events.clear()
    s.close(None)
    s.take_output(0)
    s.connection_lost(1)
    assert s.state is KS.CLOSED
    assert states(s) == [KS.CLOSED]
    assert watch_events(s) == [(w, WatchedEvent(EventType.NONE, KS.CLOSED, None))]


def test_connection_lost_while_closing_completes_the_close_handle_once() -> None:
    s = connected()
    h = Handle("close")
    s.close(h)
    s.take_output(0)
    s.connection_lost(1)
    completions = [ev for ev in s.events if ev[0] == EV_RESULT and ev[1] is h]
    assert len(completions) == 1


def test_close_while_not_connected_is_immediate() -> None:
    s, ctx = _session_with_watches_and_requests()
    assert s.close(Handle("close")) is False
    assert s.take_output(1) == b""
    assert s.state is KS.CLOSED
    assert states(s) == [KS.CLOSED]
    value, exc = results(s)[ctx["queued"]]
    assert value is None and isinstance(exc, KazooException)
    closed = WatchedEvent(EventType.NONE, KS.CLOSED, None)
    assert watch_events(s) == [(ctx["w1"], closed), (ctx["w2"], closed)]
    h = Handle("after")
    s.submit(pend(builders().get("/x"), h))
    assert isinstance(results(s)[h][1], ConnectionClosedError)


def test_close_fails_requests_still_in_flight() -> None:
    s = connected()
    h, out = submit(s, builders().get("/a"), "a")
    s.close(Handle("close"))
    (close,) = sent(s.take_output(0))
    serve(s, reply(out[0].xid, 1, 0, ustr("d") + stat_bytes()))
    assert results(s)[h] == ((b"d", STAT), None)  # answered before the close
    s.connection_lost(1)
    assert s.state is KS.CLOSED


def test_close_fails_an_add_auth_still_waiting_for_its_reply() -> None:
    s = connected()
    h, out = submit(s, builders().auth("digest", "alice:secret"), "auth")
    assert out[0].xid == -4
    close = Handle("close")
    s.close(close)
    (sent_close,) = sent(s.take_output(0))
    serve(s, reply(sent_close.xid, 2, 0))
    assert results(s)[close] == (True, None)
    value, exc = results(s)[h]  # answered, never left waiting
    assert value is None and isinstance(exc, ConnectionLoss)


def test_abort_ends_at_once_without_a_close_session() -> None:
    s = connected()
    h, _ = submit(s, builders().get("/a"), "a")
    s.abort()
    assert s.take_output(0) == b""
    assert s.state is KS.CLOSED and s.finished
    assert isinstance(results(s)[h][1], ConnectionLoss)
    s.abort()  # a second abort does nothing
    assert states(s) == [KS.CLOSED]


def test_submit_before_start_is_connection_closed() -> None:
    s = new_session()
    h = Handle("h")
    s.submit(pend(builders().get("/x"), h))
    assert isinstance(results(s)[h][1], ConnectionClosedError)


# =========================================================================== read-only


def test_read_only_server_gives_connected_ro() -> None:
    s = new_session(read_only=True)
    handshake(s, read_only=True)
    assert s.state is KS.CONNECTED_RO
    assert states(s) == [KS.CONNECTING, KS.CONNECTED_RO]
    assert to_kazoo_state(KS.CONNECTED_RO, KazooState.SUSPENDED) is KazooState.CONNECTED


def test_session_made_by_a_read_only_server_is_not_resumed_until_rw_seen() -> None:
    s = new_session(read_only=True)
    handshake(s, read_only=True, sid=0x10)
    b = builders()
    _, out = submit(s, b.exists("/a"), "e")
    serve(s, reply(out[0].xid, 55, 0, stat_bytes()))
    for now in (1.0, 2.0):  # every reconnect to a read-only server starts afresh
        s.connection_lost(now)
        req = decode_connect(s.begin_connect(now, 10))
        assert (req.session_id, req.passwd, req.last_zxid) == (0, ZERO16, 0)
        serve(s, connect_response(sid=0x10 + int(now), read_only=True), now)
        assert s.state is KS.CONNECTED_RO
    # a read-write server: new session, which is then resumed even on a read-only server
    s.connection_lost(3.0)
    req = decode_connect(s.begin_connect(3.0, 10))
    assert req.session_id == 0
    serve(s, connect_response(sid=0x20, passwd=PASSWD), 3.0)
    assert s.state is KS.CONNECTED
    for now, ro in ((4.0, True), (5.0, False)):
        s.connection_lost(now)
        req = decode_connect(s.begin_connect(now, 10))
        assert (req.session_id, req.passwd) == (0x20, PASSWD)
        serve(s, connect_response(sid=0x20, passwd=PASSWD, read_only=ro), now)
        assert s.state is (KS.CONNECTED_RO if ro else KS.CONNECTED)


def test_session_made_by_rw_server_is_resumed_on_a_read_only_server() -> None:
    s = new_session(read_only=True)
    handshake(s, sid=0x30)
    s.connection_lost(1)
    req = decode_connect(s.begin_connect(1, 10))
    assert req.session_id == 0x30


# =========================================================================== persistent watches


def test_persistent_watches_rearmed_get_none_connected_after_a_reconnect() -> None:
    s = connected(chroot="/app")
    b = builders("/app")
    wp, wr, wd = Watcher("persistent"), Watcher("recursive"), Watcher("data")
    _, out = submit(s, b.add_watch("/p", wp, AddWatchMode.PERSISTENT), "p")
    assert out[0].type == 106
    assert (out[0].body.read_str(), out[0].body.read_int()) == ("/app/p", 0)
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    _, out = submit(s, b.add_watch("/", wr, AddWatchMode.PERSISTENT_RECURSIVE), "r")
    serve(s, reply(out[0].xid, 2, 0))  # an empty body is accepted too
    _, out = submit(s, b.get("/d", wd), "d")
    serve(s, reply(out[0].xid, 3, 0, ustr("v") + stat_bytes()))
    assert s.watches.count(WatchKind.PERSISTENT, "/app/p") == 1
    assert s.watches.count(WatchKind.PERSISTENT_RECURSIVE, "/app") == 1
    s.connection_lost(1)
    s.events.clear()
    handshake(s, 2)
    (set_watches,) = sent(s.take_output(2))
    assert (set_watches.xid, set_watches.type) == (-8, 105)
    assert decode_set_watches(set_watches) == (3, [["/app/d"], [], [], ["/app/p"], ["/app"]])
    # the notice waits for the server's answer to SetWatches: a change made after it
    # surely reaches the watch
    assert s.events == [(EV_STATE, KS.CONNECTED)]
    s.events.clear()
    serve(s, reply(-8, 3, 0))
    assert s.events == [
        (EV_WATCH, wp, WatchedEvent(EventType.NONE, KS.CONNECTED, "/p")),
        (EV_WATCH, wr, WatchedEvent(EventType.NONE, KS.CONNECTED, "/")),
    ]


def test_persistent_watches_not_told_on_the_first_connection() -> None:
    s = new_session()
    s.start(0)
    s.begin_connect(0, 10)
    w = Watcher("w")
    s.submit(pend(builders().add_watch("/p", w, AddWatchMode.PERSISTENT), Handle("p")))
    serve(s, connect_response())
    assert watch_events(s) == []


def test_persistent_watch_is_kept_by_firing_and_drained_at_close() -> None:
    s = connected()
    w = Watcher("w")
    _, out = submit(s, builders().add_watch("/p", w, AddWatchMode.PERSISTENT), "p")
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    serve(s, watch_event(CHANGED, "/p") + watch_event(CHANGED, "/p"))
    assert len(watch_events(s)) == 2
    s.events.clear()
    s.close(None)
    (close,) = sent(s.take_output(0))
    serve(s, reply(close.xid))
    assert watch_events(s) == [(w, WatchedEvent(EventType.NONE, KS.CLOSED, None))]


def test_remove_all_watches_drops_local_watches() -> None:
    s = connected()
    b = builders()
    w = Watcher("w")
    _, out = submit(s, b.add_watch("/p", w, AddWatchMode.PERSISTENT), "p")
    serve(s, reply(out[0].xid, 1, 0, i32(0)))
    h, out = submit(s, b.remove_all_watches("/p", 3), "rm")
    serve(s, reply(out[0].xid, 2, 0))
    assert results(s)[h] == (True, None)
    serve(s, watch_event(CHANGED, "/p"))
    assert watch_events(s) == []


# =========================================================================== hostile bytes


def _hostile_target() -> Session:
    """Connected, with several kinds of requests in flight and some watches."""
    b = builders("/app")
    s = connected(chroot="/app")
    w = Watcher("w")
    for op in (
        b.get("/a", w),
        b.exists("/b", w),
        b.get_children("/c", w, include_data=True),
        b.transaction([ser.Create("/app/t", b"", OPEN_ACL_UNSAFE, 0), ser.Delete("/app/u")]),
        b.get_acls("/d"),
        b.whoami(),
    ):
        s.submit(pend(op, Handle("h")))
    s.take_output(0)
    return s


def _feed(s: Session, chunks: Iterable[bytes]) -> None:
    try:
        for chunk in chunks:
            s.data_received(chunk, 1.0)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_random_bytes_after_handshake_only_raise_protocol_error(data: bytes, step: int) -> None:
    s = _hostile_target()
    _feed(s, (data[i : i + step] for i in range(0, len(data), step)))


_frames = st.builds(
    lambda xid, zxid, err, body: reply(xid, zxid, err, body),
    st.sampled_from([-1, -2, -4, -8, 1, 2, 3, 4, 5, 6, 7]) | st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 0, 0, -101, -115, -999, -112]) | st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=120),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_frames, max_size=8))
def test_well_framed_random_replies_only_raise_protocol_error(frames: list[bytes]) -> None:
    s = _hostile_target()
    _feed(s, frames)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_random_first_frame_only_raises_protocol_error(body: bytes) -> None:
    s = new_session()
    s.start(0)
    s.begin_connect(0, 10)
    _feed(s, [frame(body)])
