"""Watches against real ZooKeeper: one-shot kinds, persistence across drops and restarts,
persistent and recursive watches, removal."""

from __future__ import annotations

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import NoWatcherError
from kazoo.protocol.states import (
    AddWatchMode,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    WatcherType,
)
from kazoo.testing import drop_connection

pytestmark = pytest.mark.integration

WAIT = 15.0
CONNECTED = KeeperState.CONNECTED


def ev(kind: EventType, path: str) -> WatchedEvent:
    return WatchedEvent(kind, CONNECTED, path)


# --------------------------------------------------------------------------- one-shot


def test_data_watch_fires_changed_once(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/w", b"0")
    zk_client.get("/w", watch=log)
    zk_client.set("/w", b"1")
    assert log.wait_count(1)
    zk_client.set("/w", b"2")
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CHANGED, "/w")]


def test_data_watch_fires_deleted(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/w")
    zk_client.get("/w", watch=log)
    zk_client.delete("/w")
    assert log.wait_count(1)
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.DELETED, "/w")]


def test_exists_watch_on_existing_node_fires_changed(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/w")
    assert zk_client.exists("/w", watch=log) is not None
    zk_client.set("/w", b"1")
    assert log.wait_count(1)
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CHANGED, "/w")]


def test_exists_watch_on_missing_node_fires_created(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    assert zk_client.exists("/later", watch=log) is None
    zk_client.create("/later")
    assert log.wait_count(1)
    zk_client.set("/later", b"x")
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CREATED, "/later")]


def test_get_on_missing_node_leaves_no_watch(zk_client: KazooClient, helpers) -> None:
    from kazoo.exceptions import NoNodeError

    log = helpers.EventLog()
    with pytest.raises(NoNodeError):
        zk_client.get("/later", watch=log)
    with pytest.raises(NoNodeError):
        zk_client.get_children("/later", watch=log)
    zk_client.create("/later")
    zk_client.create("/later/child")
    helpers.flush_watches(zk_client)
    assert log.items == []


def test_child_watch_fires_child_once(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/p")
    assert zk_client.get_children("/p", watch=log) == []
    zk_client.create("/p/a")
    assert log.wait_count(1)
    zk_client.create("/p/b")
    zk_client.set("/p", b"data changes do not fire child watches")
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CHILD, "/p")]


def test_child_watch_ignores_data_change_but_fires_on_child_delete(
    zk_client: KazooClient, helpers
) -> None:
    log = helpers.EventLog()
    zk_client.create("/p/a", makepath=True)
    zk_client.get_children("/p", watch=log)
    zk_client.set("/p", b"x")
    zk_client.set("/p/a", b"x")
    helpers.flush_watches(zk_client)
    assert log.items == []
    zk_client.delete("/p/a")
    assert log.wait_count(1)
    assert log.items == [ev(EventType.CHILD, "/p")]


def test_child_watch_fires_deleted_when_the_node_goes(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/p")
    zk_client.get_children("/p", watch=log, include_data=True)
    zk_client.delete("/p")
    assert log.wait_count(1)
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.DELETED, "/p")]


def test_same_callable_registered_twice_counts_once(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/w")
    zk_client.get("/w", watch=log)
    zk_client.get("/w", watch=log)
    zk_client.exists("/w", watch=log)
    zk_client.get_children("/w", watch=log)
    zk_client.get_children("/w", watch=log)
    zk_client.set("/w", b"1")
    zk_client.create("/w/c")
    helpers.flush_watches(zk_client)
    assert sorted(log.items) == sorted([ev(EventType.CHANGED, "/w"), ev(EventType.CHILD, "/w")])


def test_different_callables_each_fire(zk_client: KazooClient, helpers) -> None:
    first, second = helpers.EventLog(), helpers.EventLog()
    zk_client.create("/w")
    zk_client.get("/w", watch=first)
    zk_client.get("/w", watch=second)
    zk_client.set("/w", b"1")
    helpers.flush_watches(zk_client)
    assert first.items == second.items == [ev(EventType.CHANGED, "/w")]


def test_event_path_is_chroot_relative(
    zk_client: KazooClient, make_client, helpers, servers: str, chroot: str
) -> None:
    log = helpers.EventLog()
    zk_client.create("/deep/node", makepath=True)
    zk_client.get("/deep/node", watch=log)
    root = make_client(servers)
    root.set(chroot + "/deep/node", b"from outside the chroot")
    assert log.wait_count(1)
    assert log.items == [ev(EventType.CHANGED, "/deep/node")]


def test_watch_callback_exception_does_not_stop_delivery(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()

    def bad(event):
        raise RuntimeError("a broken watcher")

    zk_client.create("/w")
    zk_client.get("/w", watch=bad)
    zk_client.get("/w", watch=log)
    zk_client.set("/w", b"1")
    assert log.wait_count(1)
    assert log.items == [ev(EventType.CHANGED, "/w")]


# --------------------------------------------------------------------------- across reconnects


def test_watches_survive_a_dropped_connection(zk_client: KazooClient, make_client, helpers) -> None:
    data, exist, child = helpers.EventLog(), helpers.EventLog(), helpers.EventLog()
    zk_client.create("/w", b"0")
    zk_client.get("/w", watch=data)
    zk_client.exists("/new", watch=exist)
    zk_client.get_children("/w", watch=child)
    session_id = zk_client.client_id[0]
    drop_connection(zk_client)
    assert zk_client.client_id[0] == session_id
    other = make_client()
    other.set("/w", b"1")
    other.create("/new")
    other.create("/w/kid")
    assert data.wait_count(1) and exist.wait_count(1) and child.wait_count(1)
    helpers.flush_watches(zk_client)
    assert data.items == [ev(EventType.CHANGED, "/w")]
    assert exist.items == [ev(EventType.CREATED, "/new")]
    assert child.items == [ev(EventType.CHILD, "/w")]


def test_missed_changes_arrive_after_reconnect(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    """The first client is cut off (its only server paused) while a second client
    changes the nodes; after reconnecting with the same session, each watch fires
    with the change it missed (SetWatches catch-up), once."""
    member, rest = helpers.follower(cluster_guard)
    first = make_client(
        f"{member.host}:{member.client_port}{chroot}",
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
    )
    other = make_client(rest + chroot)
    first.create("/w", b"0")
    first.create("/gone")
    data, deleted = helpers.EventLog(), helpers.EventLog()
    exist, child = helpers.EventLog(), helpers.EventLog()
    first.get("/w", watch=data)
    first.get("/gone", watch=deleted)
    first.exists("/new", watch=exist)
    first.get_children("/w", watch=child)
    states = helpers.EventLog()
    first.add_listener(states)
    session_id = first.client_id[0]

    member.pause()
    try:
        helpers.sever(first)
        assert states.wait_item(KazooState.SUSPENDED), states.items
        other.set("/w", b"1")
        other.delete("/gone")
        other.create("/new")
        other.create("/w/kid")
        assert not first.connected
    finally:
        member.resume()
    assert states.wait_item(KazooState.CONNECTED, timeout=20.0), states.items
    assert first.client_id[0] == session_id
    for log in (data, deleted, exist, child):
        assert log.wait_count(1)
    helpers.flush_watches(first)
    assert data.items == [ev(EventType.CHANGED, "/w")]
    assert deleted.items == [ev(EventType.DELETED, "/gone")]
    assert exist.items == [ev(EventType.CREATED, "/new")]
    assert child.items == [ev(EventType.CHILD, "/w")]
    assert KazooState.LOST not in states.items


def test_watches_survive_a_server_restart_with_the_same_session(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    member, rest = helpers.follower(cluster_guard)
    first = make_client(
        f"{member.host}:{member.client_port}{chroot}",
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
    )
    other = make_client(rest + chroot)
    first.create("/w", b"0")
    data, exist, child = helpers.EventLog(), helpers.EventLog(), helpers.EventLog()
    first.get("/w", watch=data)
    first.exists("/new", watch=exist)
    first.get_children("/w", watch=child)
    states = helpers.EventLog()
    first.add_listener(states)
    session_id = first.client_id[0]

    member.stop()
    assert states.wait_item(KazooState.SUSPENDED), states.items
    member.run()
    assert states.wait_item(KazooState.CONNECTED, timeout=20.0), states.items
    assert first.client_id[0] == session_id
    helpers.flush_watches(first)
    assert data.items == exist.items == child.items == []  # re-armed, nothing changed yet
    other.set("/w", b"1")
    other.create("/new")
    other.create("/w/kid")
    for log in (data, exist, child):
        assert log.wait_count(1)
    helpers.flush_watches(first)
    assert data.items == [ev(EventType.CHANGED, "/w")]
    assert exist.items == [ev(EventType.CREATED, "/new")]
    assert child.items == [ev(EventType.CHILD, "/w")]
    assert KazooState.LOST not in states.items


# --------------------------------------------------------------------------- persistent watches


def test_persistent_watch_fires_repeatedly(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    assert zk_client.add_watch("/pw", log, AddWatchMode.PERSISTENT) is True
    zk_client.create("/pw", b"0")
    zk_client.set("/pw", b"1")
    zk_client.set("/pw", b"2")
    zk_client.create("/pw/kid")
    zk_client.set("/pw/kid", b"grandchild data is not watched")
    zk_client.delete("/pw/kid")
    zk_client.delete("/pw")
    zk_client.create("/pw")
    helpers.flush_watches(zk_client)
    assert log.items == [
        ev(EventType.CREATED, "/pw"),
        ev(EventType.CHANGED, "/pw"),
        ev(EventType.CHANGED, "/pw"),
        ev(EventType.CHILD, "/pw"),
        ev(EventType.CHILD, "/pw"),
        ev(EventType.DELETED, "/pw"),
        ev(EventType.CREATED, "/pw"),
    ]


def test_recursive_watch_sees_descendants_and_never_child(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    assert zk_client.add_watch("/rw", log, AddWatchMode.PERSISTENT_RECURSIVE) is True
    zk_client.create("/rw")
    zk_client.create("/rw/a")
    zk_client.create("/rw/a/b", b"0")
    zk_client.set("/rw/a/b", b"1")
    zk_client.delete("/rw/a/b")
    zk_client.create("/rwx")  # a sibling with a common prefix is outside the watch
    helpers.flush_watches(zk_client)
    assert log.items == [
        ev(EventType.CREATED, "/rw"),
        ev(EventType.CREATED, "/rw/a"),
        ev(EventType.CREATED, "/rw/a/b"),
        ev(EventType.CHANGED, "/rw/a/b"),
        ev(EventType.DELETED, "/rw/a/b"),
    ]


def test_add_watch_argument_errors(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    with pytest.raises(ValueError):
        zk_client.add_watch("/x", log, 7)
    with pytest.raises(TypeError):
        zk_client.add_watch("/x", log, "PERSISTENT")
    with pytest.raises(TypeError):
        zk_client.add_watch("/x", "not callable", AddWatchMode.PERSISTENT)
    with pytest.raises(ValueError):
        zk_client.add_watch("x", log, AddWatchMode.PERSISTENT)


def test_persistent_watch_survives_a_dropped_connection(
    zk_client: KazooClient, make_client, helpers
) -> None:
    log = helpers.EventLog()
    zk_client.create("/pw")
    zk_client.add_watch("/pw", log, AddWatchMode.PERSISTENT)
    drop_connection(zk_client)
    # the re-arm notice, then ordinary events again
    assert log.wait_item(WatchedEvent(EventType.NONE, CONNECTED, "/pw"))
    other = make_client()
    other.set("/pw", b"1")
    other.set("/pw", b"2")
    assert log.wait_count(3)
    helpers.flush_watches(zk_client)
    assert log.items == [
        WatchedEvent(EventType.NONE, CONNECTED, "/pw"),
        ev(EventType.CHANGED, "/pw"),
        ev(EventType.CHANGED, "/pw"),
    ]


# --------------------------------------------------------------------------- removal


def test_remove_all_watches_any_stops_delivery(zk_client: KazooClient, helpers) -> None:
    data, child, persistent = helpers.EventLog(), helpers.EventLog(), helpers.EventLog()
    zk_client.create("/rm")
    zk_client.get("/rm", watch=data)
    zk_client.get_children("/rm", watch=child)
    zk_client.add_watch("/rm", persistent, AddWatchMode.PERSISTENT)
    assert zk_client.remove_all_watches("/rm", WatcherType.ANY) is True
    zk_client.set("/rm", b"1")
    zk_client.create("/rm/kid")
    helpers.flush_watches(zk_client)
    assert data.items == child.items == persistent.items == []


def test_remove_data_watches_leaves_child_watches(zk_client: KazooClient, helpers) -> None:
    data, child = helpers.EventLog(), helpers.EventLog()
    zk_client.create("/rm")
    zk_client.get("/rm", watch=data)
    zk_client.get_children("/rm", watch=child)
    assert zk_client.remove_all_watches("/rm", WatcherType.DATA) is True
    zk_client.set("/rm", b"1")
    zk_client.create("/rm/kid")
    assert child.wait_count(1)
    helpers.flush_watches(zk_client)
    assert data.items == []
    assert child.items == [ev(EventType.CHILD, "/rm")]


def test_remove_all_watches_without_watches_raises_no_watcher(zk_client: KazooClient) -> None:
    zk_client.create("/unwatched")
    with pytest.raises(NoWatcherError):
        zk_client.remove_all_watches("/unwatched", WatcherType.ANY)
    with pytest.raises(NoWatcherError):
        zk_client.remove_all_watches("/missing", WatcherType.DATA)
    result = zk_client.remove_all_watches_async("/unwatched", WatcherType.CHILDREN)
    assert result.wait(WAIT)
    assert isinstance(result.exception, NoWatcherError)


def test_remove_all_watches_then_watch_again(zk_client: KazooClient, helpers) -> None:
    log = helpers.EventLog()
    zk_client.create("/rm")
    zk_client.get("/rm", watch=log)
    zk_client.remove_all_watches("/rm", WatcherType.ANY)
    zk_client.get("/rm", watch=log)
    zk_client.set("/rm", b"1")
    assert log.wait_count(1)
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CHANGED, "/rm")]
