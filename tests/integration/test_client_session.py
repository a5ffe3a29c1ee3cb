"""Session lifecycle against real ZooKeeper: expiry, stop, start, listeners, resume,
concurrency."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConfigurationError, ConnectionClosedError
from kazoo.protocol.states import (
    AddWatchMode,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
)
from kazoo.testing import drop_connection, expire_session
from kazoo.testing.handlers import make_handler

pytestmark = pytest.mark.integration

WAIT = 15.0


def _watch_everything(client: KazooClient, helpers) -> list:
    """One watcher of each kind, all pending; returns their logs."""
    client.ensure_path("/w")
    logs = [helpers.EventLog() for _ in range(4)]
    client.get("/w", watch=logs[0])
    client.exists("/missing", watch=logs[1])
    client.get_children("/w", watch=logs[2])
    client.add_watch("/p", logs[3], AddWatchMode.PERSISTENT)
    return logs


def _node_gone(observer: KazooClient, path: str) -> bool:
    observer.sync("/")  # the observer's server has applied everything committed so far
    return observer.exists(path) is None


def _cut_off_client(cluster, chroot: str, make_client, helpers):
    """A client whose only server is a follower, plus that member and the other members."""
    for member in cluster:
        if helpers.mode(member) == "follower":
            rest = ",".join(f"{m.host}:{m.client_port}" for m in cluster if m is not member)
            client = make_client(
                f"{member.host}:{member.client_port}{chroot}",
                connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
            )
            return client, member, rest
    raise AssertionError("the ensemble has no follower")


# --------------------------------------------------------------------------- expiry


def test_real_session_expiry(zk_client: KazooClient, make_client, helpers) -> None:
    observer = make_client()
    zk_client.create("/eph", ephemeral=True)
    logs = _watch_everything(zk_client, helpers)
    states = helpers.EventLog()
    zk_client.add_listener(states)
    old_id = zk_client.client_id

    expire_session(zk_client)

    assert states.wait_item(KazooState.CONNECTED)
    lost_at = states.items.index(KazooState.LOST)
    assert KazooState.CONNECTED in states.items[lost_at:]
    assert zk_client.state == KazooState.CONNECTED
    assert zk_client.client_id is not None
    assert zk_client.client_id[0] != old_id[0]
    assert _node_gone(observer, "/eph")
    expired = WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)
    for log in logs:
        assert log.wait_item(expired)
    # the dropped watchers stay silent for changes made on the new session
    zk_client.set("/w", b"1")
    zk_client.create("/missing")
    zk_client.create("/w/kid")
    zk_client.create("/p")
    helpers.flush_watches(zk_client)
    one_shot, persistent = logs[:3], logs[3]
    for log in one_shot:
        assert log.items == [expired]
    # taking the session over drops the client's connection first, so the persistent
    # watch may also have had its "re-armed" notice before the expiry
    rearmed = WatchedEvent(EventType.NONE, KeeperState.CONNECTED, "/p")
    assert [e for e in persistent.items if e != rearmed] == [expired]
    assert persistent.items[-1] == expired
    assert zk_client.create("/eph", ephemeral=True) == "/eph"
    assert zk_client.exists("/eph").ephemeralOwner == zk_client.client_id[0]


# --------------------------------------------------------------------------- stop


def test_stop_ends_the_session(zk_client: KazooClient, make_client, helpers) -> None:
    observer = make_client()
    zk_client.create("/eph", ephemeral=True)
    logs = _watch_everything(zk_client, helpers)
    states = helpers.EventLog()
    zk_client.add_listener(states)

    zk_client.stop()

    assert zk_client.state == KazooState.LOST
    assert zk_client.client_state == KeeperState.CLOSED
    assert not zk_client.connected
    assert zk_client.client_id is None
    assert states.wait_item(KazooState.LOST)
    assert _node_gone(observer, "/eph")
    closed = WatchedEvent(EventType.NONE, KeeperState.CLOSED, None)
    for log in logs:
        assert log.wait_count(1)
    helpers.drain_callbacks(zk_client)
    for log in logs:
        assert log.items == [closed]


def test_calls_after_stop_raise_connection_closed(zk_client: KazooClient) -> None:
    zk_client.stop()
    with pytest.raises(ConnectionClosedError):
        zk_client.get("/")
    with pytest.raises(ConnectionClosedError):
        zk_client.create("/x")
    with pytest.raises(ConnectionClosedError):
        zk_client.ensure_path("/x")
    with pytest.raises(ConnectionClosedError):
        zk_client.transaction().commit()
    result = zk_client.get_async("/")
    assert result.wait(WAIT)
    assert isinstance(result.exception, ConnectionClosedError)
    with pytest.raises(ConnectionClosedError):
        result.get(timeout=WAIT)


def test_second_stop_does_nothing(zk_client: KazooClient, helpers) -> None:
    states = helpers.EventLog()
    zk_client.add_listener(states)
    zk_client.stop()
    assert states.wait_item(KazooState.LOST)
    zk_client.stop()
    helpers.drain_callbacks(zk_client)
    assert states.items == [KazooState.LOST]
    assert zk_client.client_state == KeeperState.CLOSED


def test_stop_fails_requests_in_flight_with_connection_loss(zk_client: KazooClient) -> None:
    from kazoo.exceptions import ConnectionLoss

    zk_client.create("/n", b"v")
    results = [zk_client.get_async("/n") for _ in range(300)]
    zk_client.stop()
    for result in results:
        assert result.wait(WAIT)
        if not result.successful():
            assert type(result.exception) is ConnectionLoss, repr(result.exception)
        else:
            assert result.value[0] == b"v"


def test_stop_from_several_threads_at_once(make_client, helpers) -> None:
    client = make_client()
    observer = make_client()
    client.create("/eph", ephemeral=True)
    barrier = threading.Barrier(8)
    errors: list = []

    def stopper():
        try:
            barrier.wait(WAIT)
            client.stop()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stopper) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    assert not any(thread.is_alive() for thread in threads), "a stop() hung"
    assert errors == []
    assert client.state == KazooState.LOST
    assert client.client_state == KeeperState.CLOSED
    assert _node_gone(observer, "/eph")


def test_stop_and_close_never_started_client(make_client) -> None:
    client = make_client(start=False)
    assert client.state == KazooState.LOST
    assert client.client_state == KeeperState.CLOSED
    assert client.client_id is None
    client.stop()
    client.close()
    with pytest.raises(ConnectionClosedError):
        client.get("/")


# --------------------------------------------------------------------------- start


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_start_with_bad_hosts_times_out_within_its_bound(kind: str) -> None:
    listener = None
    if kind == "refused":
        port = _refused_port()
    else:  # accepts TCP (backlog) and never answers the handshake
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
    client = KazooClient(f"127.0.0.1:{port}", timeout=4.0, handler=make_handler())
    try:
        began = time.monotonic()
        with pytest.raises(client.handler.timeout_exception):
            client.start(timeout=1.0)
        elapsed = time.monotonic() - began
        assert elapsed < 6.0, f"start(timeout=1) took {elapsed:.1f} s"
        assert client.state == KazooState.LOST
        assert not client.connected
    finally:
        client.stop()
        client.close()
        if listener is not None:
            listener.close()


def test_start_is_a_no_op_when_connected(zk_client: KazooClient) -> None:
    session_id = zk_client.client_id[0]
    zk_client.start()
    assert zk_client.client_id[0] == session_id


def test_start_warns_when_the_chroot_is_missing(servers: str) -> None:
    client = KazooClient(servers + "/no-such-chroot-node", timeout=10.0, handler=make_handler())
    try:
        with pytest.warns(UserWarning):
            client.start(timeout=WAIT)
        assert client.connected
    finally:
        client.stop()
        client.close()


def test_restart_makes_a_new_session(zk_client: KazooClient, helpers) -> None:
    zk_client.create("/eph", ephemeral=True)
    zk_client.create("/keep")
    old_id = zk_client.client_id
    zk_client.restart()
    assert zk_client.connected
    assert zk_client.state == KazooState.CONNECTED
    assert zk_client.client_id[0] != old_id[0]
    assert zk_client.exists("/eph") is None
    assert zk_client.exists("/keep") is not None


def test_context_manager_starts_and_stops(zk_hosts: str, make_client) -> None:
    observer = make_client()
    with KazooClient(zk_hosts, timeout=10.0, handler=make_handler()) as client:
        assert client.connected
        assert client.state == KazooState.CONNECTED
        client.create("/eph", ephemeral=True)
    assert client.state == KazooState.LOST
    assert client.client_state == KeeperState.CLOSED
    assert not client.connected
    assert _node_gone(observer, "/eph")


# --------------------------------------------------------------------------- listeners


def test_listener_sees_suspended_then_connected_on_a_drop(zk_client: KazooClient, helpers) -> None:
    states = helpers.EventLog()
    zk_client.add_listener(states)
    drop_connection(zk_client)
    helpers.drain_callbacks(zk_client)
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]


def test_listener_returning_true_is_removed(zk_client: KazooClient, helpers) -> None:
    calls = helpers.EventLog()

    def once(state):
        calls(state)
        return True

    keeps = helpers.EventLog()
    zk_client.add_listener(once)
    zk_client.add_listener(keeps)
    drop_connection(zk_client)
    helpers.drain_callbacks(zk_client)
    assert calls.items == [KazooState.SUSPENDED]
    assert once not in zk_client.state_listeners
    assert keeps.items == [KazooState.SUSPENDED, KazooState.CONNECTED]


def test_remove_listener_and_bad_listener(zk_client: KazooClient, helpers) -> None:
    states = helpers.EventLog()
    zk_client.add_listener(states)
    zk_client.remove_listener(states)
    zk_client.remove_listener(states)  # absent: no error
    with pytest.raises(ConfigurationError):
        zk_client.add_listener("not callable")
    drop_connection(zk_client)
    helpers.drain_callbacks(zk_client)
    assert states.items == []


def test_a_raising_listener_does_not_stop_the_others(zk_client: KazooClient, helpers) -> None:
    def broken(state):
        raise RuntimeError("a broken listener")

    states = helpers.EventLog()
    zk_client.add_listener(broken)
    zk_client.add_listener(states)
    drop_connection(zk_client)
    helpers.drain_callbacks(zk_client)
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert broken in zk_client.state_listeners


# --------------------------------------------------------------------------- resume


def test_client_id_resumes_the_same_session(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    """A client built with another's ``client_id`` joins that session. The first
    client is cut off (its only server paused) so the two do not fight over it."""
    first, member, rest = _cut_off_client(cluster_guard, chroot, make_client, helpers)
    first.create("/eph", ephemeral=True)
    session_id, password = first.client_id
    member.pause()
    try:
        helpers.sever(first)
        twin = make_client(rest + chroot, client_id=(session_id, password))
        assert twin.client_id[0] == session_id
        assert twin.get_ephemerals() == ["/eph"]
        assert twin.exists("/eph").ephemeralOwner == session_id
        created = twin.create("/twin", ephemeral=True)
        assert twin.exists(created).ephemeralOwner == session_id
        twin.stop()  # ends the shared session
    finally:
        member.resume()
    observer = make_client(rest + chroot)
    assert _node_gone(observer, "/eph")
    assert _node_gone(observer, "/twin")


# --------------------------------------------------------------------------- concurrency


def test_many_concurrent_get_async_all_complete(zk_client: KazooClient) -> None:
    zk_client.create("/n", b"v")
    per_thread, results, lock = 250, [], threading.Lock()

    def submit():
        mine = [zk_client.get_async("/n") for _ in range(per_thread)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(results) == 1000
    deadline = time.monotonic() + 30.0
    for result in results:
        assert result.wait(max(0.0, deadline - time.monotonic()))
        assert result.get(timeout=0)[0] == b"v"


# ------------------------------------------------------------------- requests while SUSPENDED


def test_requests_queued_while_suspended_are_sent_after_reconnect(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    client, member, _rest = _cut_off_client(cluster_guard, chroot, make_client, helpers)
    client.create("/n", b"v")
    states = helpers.EventLog()
    client.add_listener(states)
    member.pause()
    try:
        helpers.sever(client)
        assert states.wait_item(KazooState.SUSPENDED)
        pending_get = client.get_async("/n")
        pending_create = client.create_async("/queued")
        assert not pending_get.ready()
    finally:
        member.resume()
    assert pending_get.get(timeout=20.0)[0] == b"v"
    assert pending_create.get(timeout=WAIT) == "/queued"
    assert KazooState.LOST not in states.items


def test_requests_queued_while_suspended_fail_when_the_session_expires(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    from kazoo.exceptions import SessionExpiredError

    client, member, rest = _cut_off_client(cluster_guard, chroot, make_client, helpers)
    log = helpers.EventLog()
    client.ensure_path("/w")
    client.get("/w", watch=log)
    states = helpers.EventLog()
    client.add_listener(states)
    client_id = client.client_id
    member.pause()
    try:
        helpers.sever(client)
        assert states.wait_item(KazooState.SUSPENDED)
        pending = client.get_async("/w")
        # end the session elsewhere: join it from another server, then close it
        twin = make_client(rest + chroot, client_id=client_id)
        assert twin.client_id[0] == client_id[0]
        twin.stop()
    finally:
        member.resume()
    assert pending.wait(20.0)
    assert isinstance(pending.exception, SessionExpiredError)
    assert states.wait_item(KazooState.CONNECTED, timeout=20.0)
    lost_at = states.items.index(KazooState.LOST)
    assert KazooState.CONNECTED in states.items[lost_at:]
    assert client.client_id[0] != client_id[0]
    assert log.wait_count(1)
    assert log.items == [WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)]
    assert client.get("/w")[0] == b""
