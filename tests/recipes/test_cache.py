"""TreeCache against a real ZooKeeper ensemble: loading, live events, and convergence to the
server's tree across dropped connections, a server restart and a session expiry."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionClosedError,
    KazooException,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.states import AddWatchMode, EventType, KazooState, KeeperState, WatchedEvent
from kazoo.recipe.cache import NodeData, TreeCache, TreeEvent
from kazoo.security import make_digest_acl
from kazoo.testing import drop_connection, expire_session

pytestmark = pytest.mark.integration

WAIT = 15.0
ADDED, UPDATED, REMOVED = TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED
SUSPENDED, RECONNECTED = TreeEvent.CONNECTION_SUSPENDED, TreeEvent.CONNECTION_RECONNECTED
LOST, INITIALIZED = TreeEvent.CONNECTION_LOST, TreeEvent.INITIALIZED


def join(path: str, name: str) -> str:
    return path + name if path == "/" else f"{path}/{name}"


def server_tree(client: KazooClient, root: str) -> dict[str, tuple[Any, Any]]:
    """A fresh recursive read: path -> (data, stat)."""
    tree: dict[str, tuple[Any, Any]] = {}

    def walk(path: str) -> None:
        try:
            tree[path] = client.get(path)
            children = client.get_children(path)
        except NoNodeError:
            return
        for name in children:
            walk(join(path, name))

    walk(root)
    return tree


def cache_tree(cache: TreeCache, root: str) -> dict[str, tuple[Any, Any]]:
    tree: dict[str, tuple[Any, Any]] = {}

    def walk(path: str) -> None:
        node = cache.get_data(path)
        if node is None:
            return
        tree[path] = (node.data, node.stat)
        for name in cache.get_children(path, frozenset()):
            walk(join(path, name))

    walk(root)
    return tree


class Tracker:
    """Listener recording a cache's events; waits for events or for convergence."""

    def __init__(self, cache: TreeCache) -> None:
        self.events: list[TreeEvent] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()
        cache.listen(self)

    def __call__(self, event: TreeEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)

    def wait_type(self, event_type: int, timeout: float = WAIT) -> bool:
        return self.wait_for(
            lambda events: any(e.event_type == event_type for e in events), timeout
        )

    def since(self, mark: int) -> list[tuple[int, Any]]:
        with self._cond:
            return [(e.event_type, e.event_data and e.event_data.path) for e in self.events[mark:]]

    def converged(self, cache: TreeCache, server: KazooClient, root: str) -> dict[str, Any]:
        """Wait (bounded) until the cached tree equals a fresh read of the server's tree,
        data and full stat of every node; re-checked whenever the cache publishes."""
        deadline = time.monotonic() + WAIT
        while True:
            seen = len(self.events)
            expected = server_tree(server, root)
            actual = cache_tree(cache, root)
            if actual == expected or time.monotonic() > deadline:
                assert actual == expected
                return expected
            self.wait_for(lambda events, seen=seen: len(events) > seen, timeout=0.2)


@pytest.fixture
def tree(zk_client: KazooClient) -> list[str]:
    paths = ["/t", "/t/a", "/t/a/x", "/t/a/y", "/t/b", "/t/b/deep", "/t/b/deep/er", "/t/c"]
    for path in paths:
        zk_client.create(path, path.encode(), makepath=True)
    return paths


def started(client: KazooClient, root: str = "/t") -> tuple[TreeCache, Tracker]:
    cache = TreeCache(client, root)
    tracker = Tracker(cache)
    cache.start()
    assert tracker.wait_type(INITIALIZED)
    return cache, tracker


class ReadCounter:
    """Wraps a client's get_async / get_children_async to note which paths are read."""

    def __init__(self, client: KazooClient) -> None:
        self.paths: list[str] = []
        for name in ("get_async", "get_children_async"):
            setattr(client, name, self._counting(getattr(client, name)))

    def _counting(self, method: Any) -> Any:
        def call(path: str, *args: Any, **kwargs: Any) -> Any:
            self.paths.append(path)
            return method(path, *args, **kwargs)

        return call


# --------------------------------------------------------------------------- types


def test_tree_event_and_node_data() -> None:
    assert (ADDED, UPDATED, REMOVED, SUSPENDED, RECONNECTED, LOST, INITIALIZED) == tuple(range(7))
    data = NodeData.make("/p", b"v", None)
    assert isinstance(data, tuple) and data == ("/p", b"v", None)
    assert (data.path, data.data, data.stat) == ("/p", b"v", None)
    event = TreeEvent.make(UPDATED, data)
    assert isinstance(event, tuple) and event == (UPDATED, data)
    assert (event.event_type, event.event_data) == (UPDATED, data)
    assert type(TreeEvent.make(INITIALIZED, None)) is TreeEvent


# --------------------------------------------------------------------------- loading


def test_start_loads_the_tree_then_initialized(zk_client: KazooClient, tree: list[str]) -> None:
    cache, tracker = started(zk_client)
    assert tracker.events[-1] == TreeEvent.make(INITIALIZED, None)
    added = tracker.events[:-1]
    assert [e.event_type for e in added] == [ADDED] * len(tree)
    assert sorted(e.event_data.path for e in added) == sorted(tree)
    order = [e.event_data.path for e in added]
    assert all(order.index(p.rsplit("/", 1)[0]) < order.index(p) for p in tree[1:])
    assert cache_tree(cache, "/t") == server_tree(zk_client, "/t")
    assert cache.get_children("/t") == frozenset({"a", "b", "c"})
    assert cache.get_data("/t/b/deep/er") == NodeData.make(
        "/t/b/deep/er", b"/t/b/deep/er", zk_client.get("/t/b/deep/er")[1]
    )
    # listeners run on the cache's own worker
    workers = {"kazoo-watch-worker", "kazoo-completion-worker"}
    assert tracker.threads.isdisjoint({threading.current_thread().name, *workers})
    cache.close()


def test_start_creates_a_missing_root(zk_client: KazooClient) -> None:
    cache, tracker = started(zk_client, "/made/for/cache")
    assert zk_client.exists("/made/for/cache") is not None
    assert cache.get_data("/made/for/cache").data == b""
    assert cache.get_children("/made/for/cache") == frozenset()
    cache.close()


def test_start_twice_or_after_close_raises(zk_client: KazooClient) -> None:
    cache = TreeCache(zk_client, "/t")
    cache.start()
    with pytest.raises(KazooException):
        cache.start()
    cache.close()
    cache.close()
    with pytest.raises(KazooException):
        cache.start()
    never = TreeCache(zk_client, "/never")
    never.close()
    with pytest.raises(KazooException):
        never.start()
    assert zk_client.exists("/never") is None


def test_start_on_a_stopped_client_raises(make_client) -> None:
    client = make_client(start=False)
    with pytest.raises(ConnectionClosedError):
        TreeCache(client, "/t").start()


def test_lookups_defaults_and_paths_outside_the_tree(
    zk_client: KazooClient, tree: list[str]
) -> None:
    cache, _tracker = started(zk_client)
    missing = object()
    assert cache.get_data("/t/nothing") is None
    assert cache.get_data("/t/nothing", missing) is missing
    assert cache.get_children("/t/nothing", missing) is missing
    assert isinstance(cache.get_children("/t/a"), frozenset)
    for bad in ("/other", "/tt", "/", "t/a", "/t/"):
        with pytest.raises(ValueError):
            cache.get_data(bad)
        with pytest.raises(ValueError):
            cache.get_children(bad)
    cache.close()


# --------------------------------------------------------------------------- live changes


def test_live_changes_are_published_in_order(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    other = make_client()
    cache, tracker = started(zk_client)
    mark = len(tracker.events)
    other.create("/t/n", b"1")
    assert tracker.wait_for(lambda events: len(events) > mark)
    other.set("/t/n", b"2")
    assert tracker.wait_for(lambda events: len(events) > mark + 1)
    other.create("/t/n/p/q", b"deep", makepath=True)
    assert tracker.wait_for(lambda events: len(events) > mark + 3)
    other.delete("/t/n", recursive=True)
    assert tracker.wait_for(lambda events: len(events) > mark + 6)
    assert tracker.since(mark) == [
        (ADDED, "/t/n"),
        (UPDATED, "/t/n"),
        (ADDED, "/t/n/p"),
        (ADDED, "/t/n/p/q"),
        (REMOVED, "/t/n/p/q"),
        (REMOVED, "/t/n/p"),
        (REMOVED, "/t/n"),
    ]
    updated = tracker.events[mark + 1].event_data
    assert updated.data == b"2" and updated.stat.version == 1
    removed = tracker.events[-1].event_data
    assert removed.path == "/t/n" and removed.data == b"2"
    tracker.converged(cache, other, "/t")
    cache.close()


def test_listener_errors_go_to_fault_listeners(zk_client: KazooClient, tree: list[str]) -> None:
    cache = TreeCache(zk_client, "/t")
    faults: list[BaseException] = []

    @cache.listen
    def broken(event: TreeEvent) -> None:
        raise RuntimeError(f"broken on {event.event_type}")

    assert callable(broken)
    tracker = Tracker(cache)
    assert cache.listen_fault(faults.append) == faults.append
    cache.start()
    assert tracker.wait_type(INITIALIZED)
    assert len(faults) == len(tracker.events)  # every call of the broken listener
    assert all(isinstance(exc, RuntimeError) for exc in faults)
    cache.close()


def test_read_errors_go_to_fault_listeners(zk_client: KazooClient, tree: list[str]) -> None:
    secret_acl = [make_digest_acl("someone", "else", all=True)]
    zk_client.create("/t/secret", b"hidden", acl=secret_acl)
    cache = TreeCache(zk_client, "/t")
    faults: list[BaseException] = []
    cache.listen_fault(faults.append)
    tracker = Tracker(cache)
    cache.start()
    assert tracker.wait_type(INITIALIZED)
    assert faults and all(isinstance(exc, NoAuthError) for exc in faults)
    assert cache.get_data("/t/secret") is None
    assert cache.get_children("/t") == frozenset({"a", "b", "c"})
    cache.close()


def test_close_stops_publishing_and_empties_the_cache(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    other = make_client()
    cache, tracker = started(zk_client)
    watcher, witness = started(zk_client)
    listeners = len(zk_client.state_listeners)
    cache.close()
    assert len(zk_client.state_listeners) == listeners - 1
    mark = len(tracker.events)
    other.create("/t/after", b"x")
    assert witness.wait_for(lambda events: (ADDED, "/t/after") in witness.since(0))
    assert tracker.since(mark) == []
    assert cache.get_data("/t") is None and cache.get_children("/t") is None
    watcher.close()


def test_root_deleted_and_created_again(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    other = make_client()
    cache, tracker = started(zk_client)
    mark = len(tracker.events)
    other.delete("/t", recursive=True)
    assert tracker.wait_for(lambda events: (REMOVED, "/t") in tracker.since(mark))
    removed = tracker.since(mark)
    assert sorted(path for _kind, path in removed) == sorted(tree)
    assert {kind for kind, _path in removed} == {REMOVED}
    assert cache.get_data("/t") is None
    other.create("/t/again", b"back", makepath=True)
    assert tracker.wait_for(lambda events: (ADDED, "/t/again") in tracker.since(mark))
    tracker.converged(cache, other, "/t")
    cache.close()


def test_concurrent_writers_converge(zk_client: KazooClient, make_client, tree: list[str]) -> None:
    cache, tracker = started(zk_client)
    writers = [make_client(), make_client()]
    names = [f"/t/{a}" for a in "abcdef"] + [f"/t/{a}/{b}" for a in "abc" for b in "xyz"]
    failures: list[BaseException] = []

    def churn(client: KazooClient, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(120):
                path = rng.choice(names)
                try:
                    if rng.random() < 0.4:
                        client.delete(path, recursive=True)
                    elif client.exists(path) is None:
                        client.create(path, str(i).encode(), makepath=True)
                    else:
                        client.set(path, str(i).encode())
                except (NoNodeError, NodeExistsError, NotEmptyError):  # lost races
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=churn, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 4)
    assert not failures and not any(t.is_alive() for t in threads)
    tracker.converged(cache, writers[0], "/t")
    cache.close()


# --------------------------------------------------------------------------- across faults


def test_a_dropped_connection_reads_nothing_again(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    cache, tracker = started(zk_client)
    reads = ReadCounter(zk_client)
    mark = len(tracker.events)
    drop_connection(zk_client)
    assert tracker.wait_type(RECONNECTED)
    assert tracker.since(mark) == [(SUSPENDED, None), (RECONNECTED, None)]
    assert reads.paths == []
    other = make_client()
    other.set("/t/a/x", b"after the drop")
    assert tracker.wait_for(lambda events: (UPDATED, "/t/a/x") in tracker.since(mark))
    tracker.converged(cache, other, "/t")
    assert reads.paths == ["/t/a/x"]
    cache.close()


def _change_while_away(other: KazooClient) -> None:
    """An update, a creation and the removal of a subtree."""
    other.set("/t/a/x", b"changed")
    other.create("/t/c/new", b"new")
    other.delete("/t/b", recursive=True)


def test_changes_missed_while_cut_off_arrive_without_a_full_read(
    cluster_guard, chroot: str, make_client, faults, tree: list[str]
) -> None:
    client, other, member, _rest = faults.cut_off(cluster_guard, chroot, make_client)
    cache, tracker = started(client)
    reads = ReadCounter(client)
    session_id = client.client_id[0]
    mark = len(tracker.events)
    with faults.away(client, member, lambda: tracker.wait_type(SUSPENDED)):
        _change_while_away(other)
    assert tracker.wait_type(RECONNECTED)
    tracker.converged(cache, other, "/t")
    assert client.client_id[0] == session_id
    assert sorted(tracker.since(mark)[2:]) == sorted(
        [
            (UPDATED, "/t/a/x"),
            (ADDED, "/t/c/new"),
            (REMOVED, "/t/b/deep/er"),
            (REMOVED, "/t/b/deep"),
            (REMOVED, "/t/b"),
        ]
    )
    # only what changed was read: the changed node, the new one, the parents whose child
    # lists changed, and the deleted ones (which answered NoNode)
    changed = {"/t", "/t/a/x", "/t/c", "/t/c/new", "/t/b", "/t/b/deep", "/t/b/deep/er"}
    assert set(reads.paths) <= changed
    assert "/t/a" not in reads.paths and "/t/a/y" not in reads.paths
    cache.close()


def test_premise_recursive_watches_get_no_catch_up(
    cluster_guard, chroot: str, make_client, faults, recorder
) -> None:
    """Why the cache keeps one-shot watches: the server re-arms a persistent recursive
    watch after a reconnect without telling it what was missed (here a creation)."""
    client, other, member, _rest = faults.cut_off(cluster_guard, chroot, make_client)
    client.create("/r")
    events, states = recorder(), recorder()
    client.add_watch("/r", events, AddWatchMode.PERSISTENT_RECURSIVE)
    client.add_listener(states)
    with faults.away(client, member, lambda: states.wait_call(KazooState.SUSPENDED)):
        other.create("/r/missed")
    rearmed = WatchedEvent(EventType.NONE, KeeperState.CONNECTED, "/r")
    assert events.wait_call(rearmed)
    other.create("/r/seen")
    assert events.wait_for(lambda calls: len(calls) >= 2)
    seen = WatchedEvent(EventType.CREATED, KeeperState.CONNECTED, "/r/seen")
    assert events.calls == [(rearmed,), (seen,)]  # nothing about /r/missed


def test_converges_after_a_server_restart(
    cluster_guard, chroot: str, make_client, faults, tree: list[str]
) -> None:
    client, other, member, _rest = faults.cut_off(cluster_guard, chroot, make_client)
    cache, tracker = started(client)
    session_id = client.client_id[0]
    member.stop()
    assert tracker.wait_type(SUSPENDED)
    _change_while_away(other)
    member.run()
    assert tracker.wait_type(RECONNECTED, timeout=30.0)
    tracker.converged(cache, other, "/t")
    assert client.client_id[0] == session_id
    assert LOST not in [e.event_type for e in tracker.events]
    cache.close()


def test_converges_after_a_session_expiry_with_changes_made_meanwhile(
    cluster_guard, chroot: str, make_client, faults, tree: list[str]
) -> None:
    client, other, member, rest = faults.cut_off(cluster_guard, chroot, make_client)
    cache, tracker = started(client)
    old_id = client.client_id
    mark = len(tracker.events)
    with faults.away(client, member, lambda: tracker.wait_type(SUSPENDED)):
        _change_while_away(other)
        faults.expire_via(old_id, rest)
    assert tracker.wait_type(RECONNECTED, timeout=30.0)
    tracker.converged(cache, other, "/t")
    assert client.client_id[0] != old_id[0]
    states = [kind for kind, _path in tracker.since(mark)[:3]]
    assert states == [SUSPENDED, LOST, RECONNECTED]
    # the differences are published once each, nothing for unchanged nodes
    assert sorted(tracker.since(mark)[3:]) == sorted(
        [
            (UPDATED, "/t/a/x"),
            (ADDED, "/t/c/new"),
            (REMOVED, "/t/b/deep/er"),
            (REMOVED, "/t/b/deep"),
            (REMOVED, "/t/b"),
        ]
    )
    # and the watches are set again on the new session
    other.set("/t/a/y", b"new session")
    assert tracker.wait_for(lambda events: (UPDATED, "/t/a/y") in tracker.since(mark))
    tracker.converged(cache, other, "/t")
    cache.close()


def test_follows_the_tree_after_expire_session(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    cache, tracker = started(zk_client)
    mark = len(tracker.events)
    expire_session(zk_client)

    def renewed(events: list[TreeEvent]) -> bool:
        kinds = [kind for kind, _path in tracker.since(mark)]
        return LOST in kinds and RECONNECTED in kinds[kinds.index(LOST) :]

    assert tracker.wait_for(renewed)
    assert {kind for kind, _path in tracker.since(mark)} == {SUSPENDED, LOST, RECONNECTED}
    other = make_client()
    other.create("/t/a/z", b"z")
    other.delete("/t/c")
    assert tracker.wait_for(lambda events: (REMOVED, "/t/c") in tracker.since(mark))
    tracker.converged(cache, other, "/t")
    cache.close()


def test_follows_the_tree_after_the_client_restarts(
    zk_client: KazooClient, make_client, tree: list[str]
) -> None:
    cache, tracker = started(zk_client)
    mark = len(tracker.events)
    zk_client.restart()
    other = make_client()
    other.set("/t/c", b"after the restart")
    assert tracker.wait_for(lambda events: (UPDATED, "/t/c") in tracker.since(mark))
    tracker.converged(cache, other, "/t")
    cache.close()
