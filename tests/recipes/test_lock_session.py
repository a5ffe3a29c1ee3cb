"""Lock session handling on a real ZooKeeper: expiry, reconnects, outages, stopped clients
(API §2.9, §3.4)."""

from __future__ import annotations

import time

import pytest

from kazoo.exceptions import ConfigurationError, ConnectionClosedError
from kazoo.protocol.states import KazooState
from kazoo.recipe.lock import Lock
from kazoo.testing import drop_connection, expire_session
from tests.recipes.helpers import (
    WAIT,
    PausableProxy,
    StateLog,
    blocked_waiter,
    children,
    held_lock,
    wait_children,
)

pytestmark = pytest.mark.integration


def test_session_expiry_while_holding(zk_client, make_client) -> None:
    client = make_client()
    lock, states = held_lock(client, "/lk", "x")
    old_token = lock.fencing_token
    expire_session(client)
    assert states.wait_states(KazooState.LOST)
    assert states.items[-1] == KazooState.LOST
    assert not lock.is_acquired
    assert lock.node is None and lock.fencing_token is None
    assert lock.release() is False
    other = Lock(zk_client, "/lk")
    assert other.acquire(blocking=False) is True
    other.release()
    assert lock.acquire(timeout=WAIT) is True  # the object can be used again
    assert lock.fencing_token > old_token
    assert client.exists("/lk/" + lock.node).ephemeralOwner == client.client_id[0]
    lock.release()


def test_session_expiry_while_waiting(zk_client, make_client) -> None:
    holder = Lock(zk_client, "/lk", "holder")
    client = make_client()
    lock = Lock(client, "/lk", "waiter")
    assert holder.acquire()
    waiter = blocked_waiter(lock, zk_client, "/lk", 2)
    first_node = lock.node
    expire_session(client)
    names = wait_children(
        zk_client, "/lk", lambda names: len(names) == 2 and first_node not in names
    )
    assert not waiter.done.is_set()
    assert holder.contenders() == ["holder", "waiter"]
    holder.release()
    assert waiter.result() is True
    assert lock.node in names
    assert client.exists("/lk/" + lock.node).ephemeralOwner == client.client_id[0]
    lock.release()


def test_reconnect_with_the_same_session_keeps_the_lock(make_client) -> None:
    client = make_client()
    lock = Lock(client, "/lk")
    states, removed = StateLog(), StateLog()
    lock.add_listener(states)
    lock.add_listener(removed)
    lock.remove_listener(removed)
    lock.remove_listener(removed)  # no error when absent
    assert lock.acquire()
    node, token, session = lock.node, lock.fencing_token, client.client_id[0]
    drop_connection(client)
    assert states.wait_states(KazooState.SUSPENDED, KazooState.CONNECTED)
    assert client.client_id[0] == session
    assert lock.is_acquired and lock.node == node and lock.fencing_token == token
    assert removed.items == []
    with pytest.raises(ConfigurationError):
        lock.add_listener("not callable")
    assert lock.release() is True


def test_reconnect_drops_a_lock_whose_node_is_gone(zk_client, make_client) -> None:
    client = make_client()
    lock, states = held_lock(client, "/lk")
    zk_client.delete("/lk/" + lock.node)  # e.g. an operator removed it
    drop_connection(client)
    assert states.wait_states(KazooState.SUSPENDED, KazooState.LOST)
    assert not lock.is_acquired and lock.fencing_token is None
    assert lock.release() is False


def test_persistent_lock_node_survives_session_loss(zk_client, make_client) -> None:
    client = make_client()
    lock, states = held_lock(client, "/lk", ephemeral=False)
    path = "/lk/" + lock.node
    assert client.exists(path).ephemeralOwner == 0
    expire_session(client)
    assert states.wait_states(KazooState.CONNECTED)  # validated on the new session
    assert KazooState.LOST not in states.items
    assert lock.is_acquired and client.exists(path) is not None
    assert Lock(zk_client, "/lk").acquire(blocking=False) is False
    assert lock.release() is True
    assert client.exists(path) is None


def test_stopped_or_never_started_client_raises_at_once(make_client) -> None:
    never = make_client(start=False)
    stopped = make_client()
    stopped.stop()
    for client in (never, stopped):
        lock = Lock(client, "/lk")
        start = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            lock.acquire()
        with pytest.raises(ConnectionClosedError):
            lock.acquire(blocking=False)
        with pytest.raises(ConnectionClosedError):
            lock.contenders()
        assert lock.release() is False
        assert time.monotonic() - start < 2.0
        assert not lock.is_acquired


def test_client_stopped_while_waiting_raises(zk_client, make_client) -> None:
    holder = Lock(zk_client, "/lk")
    client = make_client()
    assert holder.acquire()
    waiter = blocked_waiter(Lock(client, "/lk"), zk_client, "/lk", 2)
    client.stop()
    with pytest.raises(ConnectionClosedError):
        waiter.result()
    assert children(zk_client, "/lk") == [holder.node]


def test_budget_spent_on_connection_trouble_returns_false(zk_client, zk_hosts, make_client):
    servers, chroot = zk_hosts.split("/", 1)
    host, port = servers.split(",")[0].rsplit(":", 1)
    proxy = PausableProxy((host, int(port)))
    try:
        client = make_client(
            f"127.0.0.1:{proxy.port}/{chroot}",
            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.2},
        )
        holder = Lock(zk_client, "/lk")
        assert holder.acquire()
        lock = Lock(client, "/lk")
        start = time.monotonic()
        waiter = blocked_waiter(lock, zk_client, "/lk", 2, timeout=4.0)
        proxy.pause()
        assert waiter.result() is False  # not LockTimeout: the budget went on the outage
        assert time.monotonic() - start < 5.5
        start = time.monotonic()
        assert lock.acquire(timeout=0.5) is False  # still cut off
        assert time.monotonic() - start < 1.5
        proxy.resume()
        # the contender node is removed once the session is reachable again
        assert wait_children(zk_client, "/lk", lambda names: names == [holder.node])
        holder.release()
        assert lock.acquire(timeout=WAIT) is True
        lock.release()
    finally:
        proxy.close()
