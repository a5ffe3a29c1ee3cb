"""The I/O driver against a scripted fake peer: the normal paths (PROTOCOL.md §2-3,
API.md §2.1.3-2.1.4), under every handler (the green ones without monkey-patching unless
the whole run is patched)."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest

from kazoo.exceptions import ConnectionClosedError, ConnectionLoss
from kazoo.protocol.states import KazooState, KeeperState, ZnodeStat

from .conftest import DRIVER_HANDLERS, Env, StateLog
from .fakeserver import (
    OP_AUTH,
    OP_CLOSE,
    OP_EXISTS,
    OP_GET_CHILDREN,
    OP_GET_DATA,
    OP_PING,
    OP_SET_WATCHES,
    Conn,
    FakeZooKeeper,
    Peer,
    Request,
    reply,
)

CONNECTED, SUSPENDED, LOST = KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.LOST

pytestmark = pytest.mark.parametrize("driver_handler", DRIVER_HANDLERS, indirect=True)


def _noop(_event: Any) -> None:
    pass


# -- connect, requests, stop ---------------------------------------------------------------


def test_connect_and_get_round_trip(env: Env) -> None:
    server = env.server()
    server.add_node("/a", b"hello", czxid=7, mzxid=9, version=3, num_children=2, pzxid=8)
    client = env.client(server)
    states = StateLog(client)
    client.start(timeout=5)
    assert client.connected
    assert client.state == CONNECTED and client.client_state == KeeperState.CONNECTED
    states.wait_for(CONNECTED)
    session_id = server.wait_for_connect(0).session_id
    assert session_id == 0
    ((sid, passwd),) = server.sessions.items()
    assert client.client_id == (sid, passwd)

    data, stat = client.get("/a")

    assert data == b"hello"
    assert isinstance(stat, ZnodeStat)
    assert (stat.czxid, stat.mzxid, stat.version, stat.numChildren, stat.pzxid) == (7, 9, 3, 2, 8)
    assert stat.dataLength == 5
    (req,) = server.requests(OP_GET_DATA)
    assert (req.path, req.watch) == ("/a", False)
    assert req.xid > 0
    env.finish()


def test_pipelined_gets_are_answered_in_order(env: Env) -> None:
    count = 100
    held: list[Request] = []

    def hold_until_all_arrived(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        # Answer nothing until all 100 requests are in: a client that waited for each
        # reply before sending the next one would never get an answer.
        if req.op != OP_GET_DATA:
            return False
        held.append(req)
        if len(held) == count:
            for waiting in held:
                server.answer(conn, waiting)
        return True

    server = env.server(default=Peer(on_request=hold_until_all_arrived))
    for i in range(count):
        server.add_node(f"/n{i}", f"value-{i}".encode())
    client = env.client(server)
    client.start(timeout=5)

    results = [client.get_async(f"/n{i}") for i in range(count)]
    values = [result.get(timeout=5)[0] for result in results]

    assert values == [f"value-{i}".encode() for i in range(count)]
    requests = server.requests(OP_GET_DATA)
    assert [r.path for r in requests] == [f"/n{i}" for i in range(count)]
    xids = [r.xid for r in requests]
    assert xids == list(range(xids[0], xids[0] + count))
    env.finish()


def test_stop_sends_close_session_and_returns_within_its_bound(env: Env) -> None:
    server = env.server()
    client = env.client(server, timeout=4.0)
    states = StateLog(client)
    client.start(timeout=5)
    (sid,) = server.sessions

    started = time.monotonic()
    client.stop()
    elapsed = time.monotonic() - started

    assert elapsed < 10.0  # API.md: within max(10 s, session timeout)
    last = server.requests(conn=0)[-1]
    assert (last.op, last.body) == (OP_CLOSE, b"")
    assert last.xid > 0
    assert server.closed_sessions == [sid]
    assert client.state == LOST and client.client_state == KeeperState.CLOSED
    assert not client.connected and client.client_id is None
    states.wait_for(LOST)
    with pytest.raises(ConnectionClosedError):
        client.get("/a")
    client.stop()  # a second stop does nothing
    assert len(server.requests(OP_CLOSE)) == 1
    client.close()
    env.finish()


def test_stop_fails_queued_requests_with_connection_loss(env: Env) -> None:
    server = env.server()
    server.script(None, Peer(handshake="silent"))
    client = env.client(server, timeout=4.0)
    states = StateLog(client)
    client.start(timeout=5)
    server.conn(0).close()
    states.wait_for(SUSPENDED)
    server.wait_for_connect(1)

    queued = client.get_async("/a")  # no usable connection: the request waits
    client.stop()

    with pytest.raises(ConnectionLoss):
        queued.get(timeout=5)
    assert client.state == LOST and client.client_state == KeeperState.CLOSED
    env.finish()


def test_ping_is_sent_when_idle_and_keeps_the_connection(env: Env) -> None:
    server = env.server(timeout_ms=600)
    client = env.client(server, timeout=10.0)
    client.start(timeout=5)
    connected_at = time.monotonic()

    (ping,) = server.wait_for_request(OP_PING, timeout=2.0)
    first_ping_after = time.monotonic() - connected_at
    pings = server.wait_for_request(OP_PING, count=3, timeout=3.0)

    assert (ping.xid, ping.body) == (-2, b"")
    assert first_ping_after < 1.0  # due after about 1/3 of the 600 ms negotiated
    assert all(p.conn == 0 for p in pings)
    assert server.connection_count == 1  # answered pings keep the connection up
    assert client.state == CONNECTED
    env.finish()


# -- the ConnectRequest ------------------------------------------------------------------------


def test_connect_request_bytes_for_a_new_session(env: Env) -> None:
    server = env.server()
    client = env.client(server, timeout=30.0)
    client.start(timeout=5)
    req = server.wait_for_connect(0)
    # PROTOCOL.md §2.1 (verified 3.8.0), without the 4-byte length prefix
    golden = bytes.fromhex(
        "000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000"
    )
    assert len(req.raw) == 45
    assert req.raw == golden
    env.finish()


def test_connect_request_read_only_byte(env: Env) -> None:
    server = env.server()
    client = env.client(server, timeout=30.0, read_only=True)
    client.start(timeout=5)
    req = server.wait_for_connect(0)
    assert len(req.raw) == 45
    assert req.raw[-1:] == b"\x01"
    assert req.read_only is True
    env.finish()


def test_reconnect_resumes_the_session_with_the_last_zxid_seen(env: Env) -> None:
    server = env.server()
    server.add_node("/a", b"x")
    client = env.client(server, timeout=5.0)
    states = StateLog(client)
    client.start(timeout=5)
    first = server.wait_for_connect(0)
    ((sid, passwd),) = server.sessions.items()
    server.zxid = 0x1234_5678_9A
    client.get("/a")
    assert client.last_zxid == 0x1234_5678_9A

    server.conn(0).close()
    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))
    second = server.wait_for_connect(1)

    assert len(second.raw) == 45
    assert (second.session_id, second.passwd) == (sid, passwd)
    assert second.last_zxid == 0x1234_5678_9A
    assert second.timeout_ms == first.timeout_ms == 5000
    assert second.read_only is False
    assert client.client_id == (sid, passwd)
    assert client.get("/a")[0] == b"x"
    assert server.connection_count == 2
    env.finish()


def test_ping_replies_do_not_move_the_last_zxid(env: Env) -> None:
    def ping_with_big_zxid(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        if req.op != OP_PING:
            return False
        conn.send(reply(req.xid, 0x7777_7777))
        return True

    server = env.server(timeout_ms=600, default=Peer(on_request=ping_with_big_zxid))
    server.add_node("/a", b"x")
    client = env.client(server, timeout=5.0)
    states = StateLog(client)
    client.start(timeout=5)
    server.zxid = 0x42
    client.get("/a")
    server.wait_for_request(OP_PING, count=2, timeout=3.0)
    client.get("/a")  # the ping replies have been read by now (replies come in order)

    server.conn(0).close()
    states.wait_for(SUSPENDED)
    assert server.wait_for_connect(1).last_zxid == 0x42  # PROTOCOL.md §3: pings don't count
    env.finish()


# -- what a reconnect replays ---------------------------------------------------------------


def test_auth_and_watches_replayed_before_queued_requests(env: Env) -> None:
    server = env.server()
    server.script(None, Peer(handshake="silent"))  # connection 1: the test answers
    server.add_node("/a", b"x")
    client = env.client(server, timeout=5.0, auth_data=[("digest", "alice:secret")])
    states = StateLog(client)
    client.start(timeout=5)
    (auth,) = server.wait_for_request(OP_AUTH, conn=0)
    assert auth.xid == -4
    assert auth.auth() == (0, "digest", b"alice:secret")
    client.get("/a", watch=_noop)

    server.conn(0).close()
    states.wait_for(SUSPENDED)
    server.wait_for_connect(1)
    queued = client.get_async("/a")  # the handshake is not answered yet
    server.resume(1)
    assert queued.get(timeout=5)[0] == b"x"

    on_new = server.requests(conn=1)
    assert [(r.xid, r.op) for r in on_new[:2]] == [(-4, OP_AUTH), (-8, OP_SET_WATCHES)]
    assert on_new[0].auth() == (0, "digest", b"alice:secret")
    assert (on_new[2].op, on_new[2].path) == (OP_GET_DATA, "/a")
    assert on_new[2].xid > 0
    env.finish()


def test_set_watches_after_reconnect_carry_server_paths_and_last_zxid(env: Env) -> None:
    server = env.server()
    server.add_node("/app")
    server.add_node("/app/a", b"x")
    server.children["/app/a"] = ["c"]
    client = env.client(server, chroot="/app", timeout=5.0)
    states = StateLog(client)
    client.start(timeout=5)
    server.zxid = 0x155
    client.get("/a", watch=_noop)
    assert client.exists("/missing", watch=_noop) is None
    server.zxid = 0x177
    assert client.get_children("/a", watch=_noop) == ["c"]
    watched = [(r.op, r.path, r.watch) for r in server.requests(conn=0) if r.watch]
    assert watched == [
        (OP_GET_DATA, "/app/a", True),
        (OP_EXISTS, "/app/missing", True),
        (OP_GET_CHILDREN, "/app/a", True),
    ]

    server.conn(0).close()
    states.wait_for(CONNECTED, start=states.wait_for(SUSPENDED))

    (set_watches,) = server.wait_for_request(OP_SET_WATCHES, conn=1)
    assert set_watches.xid == -8
    relative_zxid, (data, exist, child) = set_watches.set_watches()
    assert relative_zxid == 0x177
    assert (data, exist, child) == (["/app/a"], ["/app/missing"], ["/app/a"])
    assert server.wait_for_connect(1).last_zxid == 0x177
    env.finish()


def test_connect_response_without_read_only_byte_is_accepted(env: Env) -> None:
    server = env.server(default=Peer(read_only=None))
    server.add_node("/a", b"x")
    client = env.client(server)
    client.start(timeout=5)
    assert client.client_state == KeeperState.CONNECTED
    assert client.get("/a")[0] == b"x"
    env.finish()


def test_requests_are_one_frame_each_with_exact_lengths(env: Env) -> None:
    server = env.server()
    server.add_node("/a", b"x")
    client = env.client(server)
    client.start(timeout=5)
    client.get("/a")
    (req,) = server.requests(OP_GET_DATA)
    # RequestHeader(xid, 4) + ustring "/a" + boolean false
    assert req.raw == struct.pack(">ii", req.xid, OP_GET_DATA) + b"\x00\x00\x00\x02/a\x00"
    env.finish()
