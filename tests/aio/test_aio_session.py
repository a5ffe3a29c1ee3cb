"""AsyncKazooClient session behaviour against a real ZooKeeper ensemble: lifecycle,
listeners, real expiry, failover, a member restart with watches kept, the client-side
LOST timer, auth failure."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from kazoo.aio import AsyncKazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionLoss,
    SessionExpiredError,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent

from .. import cluster_helpers
from .conftest import WAIT, AEventLog, Clients, drain, drop, expire, flush_watches

pytestmark = pytest.mark.integration

CONNECTED, SUSPENDED, LOST = KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.LOST
FAST_RETRY = {"max_tries": -1, "delay": 0.1, "max_delay": 0.5}


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _gone(observer: AsyncKazooClient, path: str) -> bool:
    await observer.sync("/")
    return await observer.exists(path) is None


# -- lifecycle --------------------------------------------------------------------------------


async def test_context_manager_starts_then_stops_and_closes(
    zk_hosts: str, aio_clients: Clients
) -> None:
    observer = await aio_clients()
    async with AsyncKazooClient(zk_hosts, timeout=10.0) as zk:
        assert zk.connected and zk.state == CONNECTED
        assert zk.client_state == KeeperState.CONNECTED
        assert zk.client_id is not None and zk.last_zxid > 0
        await zk.create("/eph", ephemeral=True)
    assert zk.state == LOST and zk.client_state == KeeperState.CLOSED
    assert not zk.connected and zk.client_id is None
    assert await _gone(observer, "/eph")


async def test_start_times_out_and_leaves_the_client_stopped() -> None:
    zk = AsyncKazooClient(f"127.0.0.1:{_refused_port()}", timeout=4.0)
    began = time.monotonic()
    states = AEventLog()
    zk.add_listener(states)
    with pytest.raises(asyncio.TimeoutError):
        await zk.start(timeout=1.0)
    assert time.monotonic() - began < 3.0
    await drain(zk)
    assert states.items == []  # never connected: LOST from the start, no change to report
    assert zk.state == LOST and zk.client_state == KeeperState.CLOSED
    assert zk._connection is None
    with pytest.raises(ConnectionClosedError):
        await zk.get("/")
    await zk.close()


async def test_start_is_a_no_op_when_connected_and_restart_makes_a_new_session(
    aio_clients: Clients,
) -> None:
    zk = await aio_clients()
    session = zk.client_id[0]
    await zk.start()
    assert zk.client_id[0] == session
    await zk.create("/eph", ephemeral=True)
    await zk.restart()
    assert zk.connected and zk.client_id[0] != session
    assert await zk.exists("/eph") is None


async def test_stop_fails_queued_requests_and_a_second_stop_does_nothing(
    aio_clients: Clients,
) -> None:
    zk = await aio_clients()
    await zk.create("/n", b"v")
    states = AEventLog()
    zk.add_listener(states)
    gets = [asyncio.ensure_future(zk.get("/n")) for _ in range(300)]
    await asyncio.sleep(0)
    await zk.stop()
    for outcome in await asyncio.gather(*gets, return_exceptions=True):
        assert outcome == (b"v", outcome[1]) or type(outcome) is ConnectionLoss, outcome
    await zk.stop()
    await drain(zk)
    assert states.items == [LOST]


async def test_constructor_checks_its_arguments(zk_hosts: str) -> None:
    with pytest.raises(TypeError):
        AsyncKazooClient(zk_hosts, auth_data=[("digest", b"x")])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        AsyncKazooClient(zk_hosts, use_ssl=True)
    with pytest.raises(ValueError):
        AsyncKazooClient("127.0.0.1:2181/bad/")
    with pytest.raises(TypeError):
        AsyncKazooClient(zk_hosts, handler=object())  # type: ignore[call-arg]
    zk = AsyncKazooClient(zk_hosts)
    with pytest.raises(ConfigurationError):
        zk.add_listener("not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        zk.set_hosts("127.0.0.1:1/other")
    assert zk.state == LOST and zk.client_state == KeeperState.CLOSED


# -- listeners --------------------------------------------------------------------------------


async def test_listeners_plain_and_coroutine_in_order(aio_clients: Clients) -> None:
    zk = await aio_clients()
    calls: list[Any] = []

    async def coro_listener(state: KazooState) -> None:
        await asyncio.sleep(0)
        calls.append(("coro", state))

    def once(state: KazooState) -> bool:
        calls.append(("once", state))
        return True

    def broken(state: KazooState) -> None:
        raise RuntimeError("a broken listener")

    for listener in (coro_listener, once, broken):
        zk.add_listener(listener)
    await drop(zk)
    await drain(zk)
    assert [c for c in calls if c[0] == "coro"] == [("coro", SUSPENDED), ("coro", CONNECTED)]
    assert [c for c in calls if c[0] == "once"] == [("once", SUSPENDED)]
    assert once not in zk.state_listeners and broken in zk.state_listeners
    zk.remove_listener(coro_listener)
    zk.remove_listener(coro_listener)  # absent: no error


# -- faults -----------------------------------------------------------------------------------


async def test_real_session_expiry(aio_clients: Clients) -> None:
    zk = await aio_clients()
    observer = await aio_clients()
    await zk.create("/eph", ephemeral=True)
    await zk.ensure_path("/w")
    log = AEventLog()
    await zk.get("/w", watch=log)
    states = AEventLog()
    zk.add_listener(states)
    old = zk.client_id[0]
    await expire(zk)
    assert await states.wait_item(CONNECTED)
    assert states.items[states.items.index(LOST) :][-1] == CONNECTED
    assert zk.client_id[0] != old
    assert await _gone(observer, "/eph")
    expired = WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)
    assert await log.wait_item(expired)
    await zk.set("/w", b"1")  # the dropped watch stays silent on the new session
    await flush_watches(zk)
    assert log.items == [expired]
    assert await zk.create("/eph", ephemeral=True) == "/eph"


async def test_requests_queued_while_suspended_fail_or_pass_with_the_session(
    cluster_guard: Any, chroot: str, aio_clients: Clients
) -> None:
    member, rest = cluster_helpers.follower(cluster_guard)
    zk = await aio_clients(
        f"{member.host}:{member.client_port}{chroot}", connection_retry=FAST_RETRY
    )
    await zk.create("/n", b"v")
    states = AEventLog()
    zk.add_listener(states)
    member.pause()
    try:
        cluster_helpers.sever(zk)
        assert await states.wait_item(SUSPENDED)
        queued = asyncio.ensure_future(zk.get("/n"))
        await asyncio.sleep(0)
        assert not queued.done()
    finally:
        member.resume()
    data, _stat = await asyncio.wait_for(queued, 20.0)
    assert data == b"v" and LOST not in states.items


async def test_failover_when_the_connected_member_dies(
    cluster_guard: Any, zk_hosts: str, chroot: str, aio_clients: Clients
) -> None:
    member, rest = cluster_helpers.follower(cluster_guard)
    zk = await aio_clients(
        f"{member.host}:{member.client_port}{chroot}", timeout=20.0, connection_retry=FAST_RETRY
    )
    zk.set_hosts(zk_hosts)  # from the next connect pass: every member
    await zk.create("/eph", b"mine", ephemeral=True)
    await zk.create("/w", b"0")
    watch = AEventLog()
    await zk.get("/w", watch=watch)
    states = AEventLog()
    zk.add_listener(states)
    session = zk.client_id[0]
    member.kill()
    assert await states.wait_item(SUSPENDED), states.items
    assert await states.wait_item(CONNECTED, timeout=40.0), states.items
    assert LOST not in states.items and zk.client_id[0] == session
    assert cluster_helpers.member_of(cluster_guard, zk) is not member
    other = await aio_clients(rest + chroot)
    await other.sync("/")
    assert (await other.exists("/eph")).ephemeralOwner == session
    await other.set("/w", b"1")
    assert await watch.wait_item(WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/w"))


async def test_watches_kept_across_a_member_restart(
    cluster_guard: Any, chroot: str, aio_clients: Clients
) -> None:
    member, rest = cluster_helpers.follower(cluster_guard)
    zk = await aio_clients(
        f"{member.host}:{member.client_port}{chroot}", connection_retry=FAST_RETRY
    )
    other = await aio_clients(rest + chroot)
    await zk.create("/w", b"0")
    data, child = AEventLog(), AEventLog()
    await zk.get("/w", watch=data)
    await zk.get_children("/w", watch=child)
    feed = zk.watch_data("/w")
    assert (await feed.__anext__())[0] == b"0"
    states = AEventLog()
    zk.add_listener(states)
    session = zk.client_id[0]
    await asyncio.to_thread(member.stop)
    assert await states.wait_item(SUSPENDED), states.items
    await asyncio.to_thread(member.run)
    assert await states.wait_item(CONNECTED, timeout=20.0), states.items
    assert zk.client_id[0] == session
    await other.set("/w", b"1")
    await other.create("/w/kid")
    assert await data.wait_count(1) and await child.wait_count(1)
    assert data.items == [WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/w")]
    assert child.items == [WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/w")]
    assert (await asyncio.wait_for(feed.__anext__(), WAIT))[0] == b"1"
    await feed.aclose()
    assert LOST not in states.items


async def test_lost_timer_when_no_server_answers(
    cluster_guard: Any, chroot: str, aio_clients: Clients
) -> None:
    """The only server is paused: after the negotiated timeout without a frame the client
    declares LOST itself, fails queued requests, and makes a new session once it can."""
    member, _rest = cluster_helpers.follower(cluster_guard)
    zk = await aio_clients(
        f"{member.host}:{member.client_port}{chroot}", timeout=4.0, connection_retry=FAST_RETRY
    )
    log = AEventLog()
    await zk.exists("/never", watch=log)
    states = AEventLog()
    zk.add_listener(states)
    old = zk.client_id[0]
    member.pause()
    try:
        began = time.monotonic()
        assert await states.wait_item(SUSPENDED, timeout=10.0), states.items
        queued = asyncio.ensure_future(zk.get("/"))
        assert await states.wait_item(LOST, timeout=10.0), states.items
        lost_after = time.monotonic() - began
        assert zk.client_state == KeeperState.EXPIRED_SESSION
        with pytest.raises(SessionExpiredError):
            await asyncio.wait_for(queued, WAIT)
        expired = WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)
        assert await log.wait_item(expired)
    finally:
        member.resume()
    assert 2.0 <= lost_after <= 9.0
    assert await states.wait_item(CONNECTED, timeout=30.0), states.items
    assert states.items.index(LOST) < len(states.items) - 1
    assert zk.client_id[0] != old
    assert await zk.create("/fresh", ephemeral=True) == "/fresh"


# -- auth ---------------------------------------------------------------------------------------


async def test_auth_failure_is_final_and_stop_still_works(aio_clients: Clients) -> None:
    zk = await aio_clients()
    log = AEventLog()
    await zk.exists("/w", watch=log)
    states = AEventLog()
    zk.add_listener(states)
    with pytest.raises(AuthFailedError):
        await asyncio.wait_for(zk.add_auth("nosuchscheme", "x"), WAIT)
    assert await states.wait_item(LOST)
    assert zk.client_state == KeeperState.AUTH_FAILED and not zk.connected
    with pytest.raises(AuthFailedError):
        await zk.get("/")
    assert await log.wait_item(WatchedEvent(EventType.NONE, KeeperState.AUTH_FAILED, None))
    await zk.stop()
    assert zk.client_state == KeeperState.CLOSED
    with pytest.raises(ConnectionClosedError):
        await zk.get("/")


async def test_bad_auth_data_fails_start(zk_hosts: str) -> None:
    zk = AsyncKazooClient(zk_hosts, timeout=10.0, auth_data=[("nosuchscheme", "x")])
    began = time.monotonic()
    with pytest.raises((AuthFailedError, asyncio.TimeoutError)):
        await zk.start(timeout=5.0)
    assert time.monotonic() - began < 8.0
    assert not zk.connected and zk.state == LOST
    await zk.close()


async def test_blocking_fault_helpers_refuse_to_run_on_the_clients_loop(
    aio_clients: Clients,
) -> None:
    from kazoo.testing import drop_connection, expire_session

    zk = await aio_clients()
    session = zk.client_id
    for fault in (expire_session, drop_connection):
        with pytest.raises(RuntimeError, match="to_thread"):
            fault(zk)
    assert zk.client_id == session and zk.connected


def test_a_client_can_be_used_again_from_a_new_event_loop(zk_hosts: str) -> None:
    zk = AsyncKazooClient(zk_hosts, timeout=10.0)
    first: list[int] = []

    async def abandon() -> None:  # the loop ends without stop(): asyncio.run cancels it
        await zk.start(timeout=WAIT)
        first.append(zk.client_id[0])

    async def again() -> int:
        assert zk.state == LOST and not zk.connected
        await zk.start(timeout=WAIT)
        try:
            assert await zk.create("/second", ephemeral=True) == "/second"
            return zk.client_id[0]
        finally:
            await zk.close()

    asyncio.run(abandon())
    assert asyncio.run(again()) != first[0]  # a new session on the new loop
    assert zk.state == LOST
