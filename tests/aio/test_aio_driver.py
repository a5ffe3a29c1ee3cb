"""The asyncio driver against the scripted fake peer (tests/drivers/fakeserver.py): the
normal paths and hostile input. Every case ends in a reconnect, SUSPENDED/LOST or a
documented exception; never a hang, a dead I/O task, a leaked socket or task (the
``aio_env`` fixture and the coroutine-test guard check the last three)."""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kazoo.aio import AsyncKazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    SessionExpiredError,
    UnknownZookeeperError,
    WriterNotClosedException,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent

from ..drivers.conftest import open_sockets
from ..drivers.fakeserver import (
    OP_CLOSE,
    OP_GET_DATA,
    FakeZooKeeper,
    Peer,
    on_op,
    reply,
    watch_event,
)
from ..drivers.test_hostile_server import DROP_CASES, FIRST_FRAME_CASES, _then_silence
from .conftest import AEventLog

CONNECTED, SUSPENDED, LOST = KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.LOST
_INT = struct.Struct(">i")
BOUND = 5.0  # every wait of these tests


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class AioEnv:
    """Fake servers and async clients of one test; checked for leaks afterwards."""

    def __init__(self) -> None:
        self.servers: list[FakeZooKeeper] = []
        self.clients: list[AsyncKazooClient] = []

    def server(self, **kwargs: Any) -> FakeZooKeeper:
        server = FakeZooKeeper(**kwargs)
        self.servers.append(server)
        return server

    def client(self, server: FakeZooKeeper, **kwargs: Any) -> AsyncKazooClient:
        kwargs.setdefault("timeout", 5.0)
        client = AsyncKazooClient(server.host, **kwargs)
        self.clients.append(client)
        return client

    async def connected(self, server: FakeZooKeeper, **kwargs: Any) -> tuple[Any, AEventLog]:
        client = self.client(server, **kwargs)
        states = AEventLog()
        client.add_listener(states)
        await client.start(timeout=BOUND)
        return client, states

    async def aio_cleanup(self) -> None:
        for client in self.clients:
            started = time.monotonic()
            try:
                await client.close()
            except WriterNotClosedException:
                pass
            assert time.monotonic() - started < 11.0, "close() took longer than its bound"


@pytest.fixture
def aio_env() -> Iterator[AioEnv]:
    sockets = open_sockets()
    threads = set(threading.enumerate())
    errors = _Errors()
    logging.getLogger("kazoo").addHandler(errors)
    env = AioEnv()
    try:
        yield env
    finally:
        logging.getLogger("kazoo").removeHandler(errors)
        problems = []
        for server in env.servers:
            server.close()
            problems.extend(server.errors)
        leaked = [t.name for t in set(threading.enumerate()) - threads if t.is_alive()]
        if leaked:
            problems.append(f"leaked threads: {leaked}")
        if open_sockets() > sockets:
            problems.append(f"leaked sockets: {open_sockets() - sockets}")
        problems.extend(f"error logged: {r.getMessage()}" for r in errors.records)
        assert not problems, problems


async def _off_loop(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking fake-server wait in a thread (the loop must keep serving)."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def _get(client: AsyncKazooClient, path: str = "/a") -> Any:
    return (await asyncio.wait_for(client.get(path), BOUND))[0]


# -- normal paths ---------------------------------------------------------------------------------


async def test_round_trip_and_pipelined_gets_in_order(aio_env: AioEnv) -> None:
    server = aio_env.server()
    for i in range(50):
        server.add_node(f"/n{i}", str(i).encode(), version=i)
    client, states = await aio_env.connected(server)
    assert states.items == [CONNECTED]
    ((sid, passwd),) = server.sessions.items()
    assert client.client_id == (sid, passwd)
    results = await asyncio.wait_for(
        asyncio.gather(*(client.get(f"/n{i}") for i in range(50))), BOUND
    )
    assert [(data, stat.version) for data, stat in results] == [
        (str(i).encode(), i) for i in range(50)
    ]
    requests = server.requests(OP_GET_DATA)
    assert [r.xid for r in requests] == sorted(r.xid for r in requests)
    await client.stop()
    assert server.requests(OP_CLOSE) and sid in server.closed_sessions


async def test_unknown_error_code_fails_only_that_request(aio_env: AioEnv) -> None:
    server = aio_env.server()

    def odd(server: FakeZooKeeper, conn: Any, req: Any) -> None:
        conn.send(reply(req.xid, 1, -999))

    server.script(Peer(on_request=on_op(OP_GET_DATA, odd)))
    server.add_node("/a", b"fine")
    client, states = await aio_env.connected(server)
    with pytest.raises(UnknownZookeeperError):
        await _get(client)
    assert await _get(client) == b"fine"
    assert server.connection_count == 1 and states.items == [CONNECTED]


# -- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(DROP_CASES.values()), ids=list(DROP_CASES))
async def test_broken_reply_drops_the_connection_and_the_client_recovers(
    aio_env: AioEnv, action: Any
) -> None:
    server = aio_env.server()
    server.script(Peer(on_request=on_op(OP_GET_DATA, action)))
    server.add_node("/a", b"fine")
    client, states = await aio_env.connected(server)
    with pytest.raises(ConnectionLoss):
        await _get(client)
    assert await states.wait_item(CONNECTED) and SUSPENDED in states.items
    assert await _get(client) == b"fine"  # the I/O task lives on, on a new connection
    first = await _off_loop(server.wait_for_connect, 0)
    later = await _off_loop(server.wait_for_connect, 1)
    assert first.session_id == 0 and later.session_id == client.client_id[0]
    assert LOST not in states.items


@pytest.mark.parametrize(
    "first", list(FIRST_FRAME_CASES.values()), ids=list(FIRST_FRAME_CASES)
)
async def test_broken_connect_response_moves_on_to_the_next_attempt(
    aio_env: AioEnv, first: bytes
) -> None:
    server = aio_env.server()
    eof = first == FIRST_FRAME_CASES["truncated-then-eof"]
    server.script(Peer(handshake_bytes=first, then="eof" if eof else "serve"))
    server.add_node("/a", b"fine")
    client = aio_env.client(server)
    await client.start(timeout=BOUND)
    assert server.connection_count == 2
    assert (await _off_loop(server.wait_for_connect, 1)).session_id == 0
    assert await _get(client) == b"fine"


async def test_half_a_frame_then_silence_is_dropped_by_the_read_timeout(aio_env: AioEnv) -> None:
    negotiated = 1.5  # read timeout 1 s
    server = aio_env.server(timeout_ms=int(negotiated * 1000))
    server.script(Peer(on_request=_then_silence()))
    server.add_node("/a", b"fine")
    client, states = await aio_env.connected(server)
    began = time.monotonic()
    with pytest.raises(ConnectionLoss):
        await _get(client)
    assert time.monotonic() - began < negotiated + 1.0
    assert await states.wait_item(CONNECTED) and LOST not in states.items
    assert await _get(client) == b"fine"


async def test_no_handshake_reply_moves_on_and_start_times_out_when_none_comes(
    aio_env: AioEnv,
) -> None:
    server = aio_env.server()
    server.script(Peer(handshake="silent"))
    server.add_node("/a", b"fine")
    client = aio_env.client(server, timeout=1.0)  # handshake bound 1 s
    began = time.monotonic()
    await client.start(timeout=BOUND)
    assert time.monotonic() - began < 3.0 and server.connection_count == 2
    assert await _get(client) == b"fine"

    mute = aio_env.server(default=Peer(handshake="silent"))
    other = aio_env.client(mute, timeout=0.4)
    began = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await other.start(timeout=1.5)
    assert time.monotonic() - began < 1.5 + 11.0
    assert mute.connection_count >= 2
    assert other.state == LOST and other.client_state == KeeperState.CLOSED


GARBAGE = {
    "random-bytes": bytes(range(7, 70)),
    "ping-xid-then-junk": reply(-2, 5, 0, b"\x01\x02") + b"\xff" * 9,
    "auth-ok-then-negative-length": reply(-4, 0, 0) + _INT.pack(-7),
    "set-watches-error": reply(-8, 0, -4, b""),
    "watch-event-unknown-type": watch_event(99, 3, "/a"),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_garbage_after_the_handshake_has_only_documented_outcomes(
    aio_env: AioEnv, garbage: bytes
) -> None:
    server = aio_env.server(timeout_ms=900)
    server.add_node("/a", b"fine")
    client, states = await aio_env.connected(server)
    server.conn(0).send(garbage)
    for _attempt in range(3):
        try:
            assert await _get(client) == b"fine"
            break
        except (ConnectionLoss, SessionExpiredError):
            continue
    else:
        raise AssertionError("the client did not recover")


# -- timers --------------------------------------------------------------------------------------


async def test_lost_timer_when_the_server_disappears(aio_env: AioEnv) -> None:
    negotiated = 1.0
    server = aio_env.server(timeout_ms=int(negotiated * 1000))
    server.add_node("/a", b"fine")
    client, states = await aio_env.connected(server, timeout=negotiated)
    old = client.client_id[0]
    watcher = AEventLog()
    await client.get("/a", watch=watcher)
    await _off_loop(server.vanish)
    gone = time.monotonic()
    assert await states.wait_item(SUSPENDED, timeout=BOUND)
    queued = asyncio.ensure_future(client.get("/a"))
    assert await states.wait_item(LOST, timeout=negotiated + 3.0)
    assert negotiated / 2 <= time.monotonic() - gone <= negotiated + 1.5
    assert client.client_state == KeeperState.EXPIRED_SESSION
    with pytest.raises(SessionExpiredError):
        await asyncio.wait_for(queued, BOUND)
    assert await watcher.wait_item(
        WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)
    )
    await _off_loop(server.revive)
    assert await states.wait_for(lambda items: items[-1] == CONNECTED, timeout=BOUND)
    assert client.client_id[0] != old
    assert await _get(client) == b"fine"
    await _off_loop(
        server.wait_for, lambda: old in server.closed_sessions, 2.0, "the old session closed"
    )


async def test_stop_against_a_peer_that_swallows_close_but_keeps_talking(
    aio_env: AioEnv,
) -> None:
    server = aio_env.server(timeout_ms=1200)
    server.script(Peer(on_request=on_op(OP_CLOSE, lambda server, conn, req: None)))
    client, _states = await aio_env.connected(server, timeout=1.2)
    conn = server.conn(0)

    async def chatter() -> None:
        while True:
            conn.send(watch_event(3, 3, "/nobody-watches-this"))
            await asyncio.sleep(0.1)  # pacing, not synchronisation

    talker = asyncio.ensure_future(chatter())
    try:
        began = time.monotonic()
        try:
            await client.stop()
        except WriterNotClosedException:
            pass
        assert time.monotonic() - began < 10.0 + 1.0
    finally:
        talker.cancel()
        await asyncio.wait({talker})
    await _off_loop(server.wait_for_request, OP_CLOSE)
    await _off_loop(server.wait_for_client_close, 0, 1.0)
    assert client.client_state == KeeperState.CLOSED


async def test_host_names_are_resolved_on_the_loop(aio_env: AioEnv) -> None:
    server = aio_env.server()
    server.add_node("/a", b"fine")
    client = AsyncKazooClient(f"no-such-host.invalid:1,localhost:{server.port}", timeout=4.0)
    aio_env.clients.append(client)
    await client.start(timeout=BOUND)  # the bad name is skipped (logged), localhost works
    assert await _get(client) == b"fine"
    assert client._connection is not None
    assert client._connection._address in (("127.0.0.1", server.port), ("::1", server.port))


async def test_a_peer_that_stops_reading_is_dropped(aio_env: AioEnv) -> None:
    """The peer answers the handshake, then keeps sending but never reads: once the
    client's writes have been stuck for the read timeout it drops the connection."""
    from ..drivers.fakeserver import connect_response

    stop_talking = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readexactly(4 + 45)  # the ConnectRequest, then no more reading
        except asyncio.IncompleteReadError:  # the client gave up on a reconnection
            writer.close()
            return
        writer.write(connect_response(1500, 0x77, b"\x01" * 16))
        while not stop_talking.is_set():
            writer.write(watch_event(3, 3, "/nobody-watches-this"))
            try:
                await asyncio.wait_for(stop_talking.wait(), 0.1)  # pacing
            except asyncio.TimeoutError:
                pass
        writer.close()

    listener = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = AsyncKazooClient(f"127.0.0.1:{port}", timeout=1.5)
    aio_env.clients.append(client)
    states = AEventLog()
    client.add_listener(states)
    try:
        await client.start(timeout=BOUND)
        big = b"x" * 1_000_000
        writes = [asyncio.ensure_future(client.set("/a", big)) for _ in range(30)]
        assert await states.wait_item(SUSPENDED, timeout=BOUND)
        outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), BOUND)
        assert all(isinstance(outcome, ConnectionLoss) for outcome in outcomes)
    finally:
        stop_talking.set()
        await client.close()
        listener.close()
        await listener.wait_closed()
