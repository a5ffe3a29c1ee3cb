"""What the old kazoo never had, against a real ZooKeeper 3.8: recursive watches kept
across a server restart, container and TTL creates inside transactions, and the 3.8
limits of ``remove_all_watches``."""

from __future__ import annotations

import threading

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import MarshallingError, NodeExistsError
from kazoo.protocol.states import (
    AddWatchMode,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    WatcherType,
)

pytestmark = pytest.mark.integration

CONNECTED = KeeperState.CONNECTED


def ev(kind: EventType, path: str) -> WatchedEvent:
    return WatchedEvent(kind, CONNECTED, path)


def test_recursive_watch_survives_a_server_restart(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    member, rest = helpers.follower(cluster_guard)
    watcher = make_client(
        f"{member.host}:{member.client_port}{chroot}",
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
    )
    other = make_client(rest + chroot)
    watcher.ensure_path("/tree")
    log, states = helpers.EventLog(), helpers.EventLog()
    watcher.add_watch("/tree", log, AddWatchMode.PERSISTENT_RECURSIVE)
    watcher.add_listener(states)
    session_id = watcher.client_id[0]

    member.stop()
    assert states.wait_item(KazooState.SUSPENDED), states.items
    member.run()
    assert states.wait_item(KazooState.CONNECTED, timeout=20.0), states.items
    assert watcher.client_id[0] == session_id
    # re-armed: one NONE notice, then the descendants' events as before the restart
    assert log.wait_item(WatchedEvent(EventType.NONE, CONNECTED, "/tree"))
    other.create("/tree/a/b", makepath=True)
    other.set("/tree/a/b", b"x")
    other.delete("/tree/a", recursive=True)
    assert log.wait_count(6)
    helpers.flush_watches(watcher)
    assert log.items == [
        WatchedEvent(EventType.NONE, CONNECTED, "/tree"),
        ev(EventType.CREATED, "/tree/a"),
        ev(EventType.CREATED, "/tree/a/b"),
        ev(EventType.CHANGED, "/tree/a/b"),
        ev(EventType.DELETED, "/tree/a/b"),
        ev(EventType.DELETED, "/tree/a"),
    ]
    assert KazooState.LOST not in states.items


def test_transaction_with_container_and_ttl_creates(zk_client: KazooClient) -> None:
    with zk_client.transaction() as t:
        t.create("/box", container=True)
        t.create("/lease", b"v", ttl=60_000)
        t.create("/seq-", ttl=60_000, sequence=True)
    assert t.committed  # the context manager committed on the clean exit
    assert zk_client.exists("/box").ephemeralOwner == 0
    assert zk_client.get("/lease")[0] == b"v"
    assert [c for c in zk_client.get_children("/") if c.startswith("seq-")]
    # a container made in a transaction is a real container: it goes once emptied
    zk_client.create("/box/kid")
    gone = threading.Event()

    def watch(event: WatchedEvent) -> None:
        if event.type is EventType.DELETED:
            gone.set()

    zk_client.delete("/box/kid")
    if zk_client.exists("/box", watch=watch) is not None:
        assert gone.wait(30), "the container made in a transaction was not removed"
    assert zk_client.exists("/box") is None


def test_transaction_result_for_container_and_ttl_is_the_path(zk_client: KazooClient) -> None:
    t = zk_client.transaction()
    t.create("/c2", container=True)
    t.create("/t2", ttl=5_000)
    assert t.commit() == ["/c2", "/t2"]
    t = zk_client.transaction()
    t.create("/t2", ttl=5_000)
    (result,) = t.commit()
    assert isinstance(result, NodeExistsError)


@pytest.mark.parametrize("kind", [WatcherType.PERSISTENT, WatcherType.PERSISTENT_RECURSIVE])
def test_persistent_watcher_types_need_zookeeper_3_9(
    zk_client: KazooClient, helpers, kind: WatcherType
) -> None:
    """ZooKeeper 3.8 answers removeWatches types 4/5 with MarshallingError, which is
    raised; the local watch stays, and WatcherType.ANY removes it."""
    log = helpers.EventLog()
    zk_client.create("/p")
    mode = (
        AddWatchMode.PERSISTENT
        if kind is WatcherType.PERSISTENT
        else AddWatchMode.PERSISTENT_RECURSIVE
    )
    zk_client.add_watch("/p", log, mode)
    with pytest.raises(MarshallingError):
        zk_client.remove_all_watches("/p", kind)
    zk_client.set("/p", b"1")
    assert log.wait_item(ev(EventType.CHANGED, "/p"))
    assert zk_client.remove_all_watches("/p", WatcherType.ANY) is True
    zk_client.set("/p", b"2")
    helpers.flush_watches(zk_client)
    assert log.items == [ev(EventType.CHANGED, "/p")]
