"""DataWatch, ChildrenWatch and PatientChildrenWatch against a real ZooKeeper ensemble."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError, KazooException, NoNodeError
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent
from kazoo.recipe.watchers import ChildrenWatch, DataWatch, PatientChildrenWatch
from kazoo.testing import drop_connection, expire_session

pytestmark = pytest.mark.integration

WAIT = 15.0
WORKER = "kazoo-watch-worker"  # the threading handler's callback worker


def settle(client: KazooClient, recorder: Any) -> None:
    """Barrier: every watcher delivery caused by a change made before this call has run.

    A control DataWatch sees a later change; deliveries of one client run in the order of
    the watch events, which follow the order of the changes."""
    path = f"/settle-{uuid.uuid4().hex}"
    seen = recorder()
    control = DataWatch(client, path, seen)
    client.create(path, b"x")
    assert seen.wait_for(lambda calls: calls[-1][0] == b"x")
    control.stop()
    client.delete(path)


def datas(rec: Any) -> list[Any]:
    return [call[0] for call in rec.calls]


def pair(rec: Any) -> Any:
    """A two-argument ``func(data, stat)`` recording into ``rec``."""
    return lambda data, stat: rec(data, stat)


# --------------------------------------------------------------------------- DataWatch


def test_data_watch_calls_once_before_returning(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"v0")
    rec = recorder()
    DataWatch(zk_client, "/n", pair(rec))
    assert len(rec.calls) == 1  # no waiting: the first call is made before returning
    assert rec.calls[0] == zk_client.get("/n")
    assert rec.threads == [threading.current_thread().name]


def test_data_watch_follows_creation_changes_and_deletion(
    zk_client: KazooClient, make_client, recorder
) -> None:
    other = make_client()
    rec = recorder()
    DataWatch(zk_client, "/n", pair(rec))
    steps = [
        (lambda: other.create("/n", b"a"), b"a"),
        (lambda: other.set("/n", b"b"), b"b"),
        (lambda: other.delete("/n"), None),
        (lambda: other.create("/n", b"c"), b"c"),
    ]
    for count, (change, expected) in enumerate(steps, start=2):
        change()
        assert rec.wait_count(count)
        assert rec.calls[-1][0] == expected
    assert rec.calls[0] == (None, None)
    assert rec.calls[3] == (None, None)
    mzxids = [stat.mzxid for _data, stat in rec.calls if stat is not None]
    assert mzxids == sorted(set(mzxids))
    assert rec.calls[-1] == zk_client.get("/n")
    assert set(rec.threads[1:]) == {WORKER}


def test_data_watch_calls_on_every_mzxid_change_only(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"same")
    rec = recorder()
    DataWatch(zk_client, "/n", rec)
    zk_client.set("/n", b"same")  # same bytes, new mzxid: a change
    assert rec.wait_count(2)
    zk_client.create("/n/kid")  # children do not change the node's mzxid
    zk_client.set_acls("/n", zk_client.get_acls("/n")[0])  # nor do ACLs
    settle(zk_client, recorder)
    assert datas(rec) == [b"same", b"same"]
    assert rec.calls[1][1].version == 1


def test_data_watch_passes_the_event_by_signature(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"0")
    two, three, star = recorder(), recorder(), recorder()
    DataWatch(zk_client, "/n", lambda data, stat: two(data, stat))
    DataWatch(zk_client, "/n", lambda data, stat, event: three(data, stat, event))
    DataWatch(zk_client, "/n", lambda *args: star(*args))
    zk_client.set("/n", b"1")
    for rec in (two, three, star):
        assert rec.wait_count(2)
    changed = WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/n")
    assert [len(call) for call in two.calls] == [2, 2]
    assert [call[2] for call in three.calls] == [None, changed]
    assert [call[2] for call in star.calls] == [None, changed]


def test_data_watch_signature_of_methods_partials_and_keyword_only(
    zk_client: KazooClient, recorder
) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()

    class Holder:
        def method(self, data, stat, event):
            rec("method", event)

    def tagged(tag, data, stat):
        rec(tag)

    def keyword_only(data, stat, *, event=None):
        rec("keyword", event)

    DataWatch(zk_client, "/n", Holder().method)  # self is bound: three left
    DataWatch(zk_client, "/n", functools.partial(tagged, "partial"))  # two left
    DataWatch(zk_client, "/n", keyword_only)  # the third is not positional
    assert rec.calls == [("method", None), ("partial",), ("keyword", None)]
    zk_client.set("/n", b"1")
    assert rec.wait_count(6)
    changed = WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/n")
    assert rec.calls[3:] == [("method", changed), ("partial",), ("keyword", None)]


def test_data_watch_type_error_in_func_is_not_retried(
    zk_client: KazooClient, recorder, caplog
) -> None:
    """Old kazoo called func again with the event after a TypeError; now it is logged."""
    zk_client.create("/n", b"0")
    calls = []

    def broken(data, stat):
        calls.append(data)
        raise TypeError("a bug inside func")

    with caplog.at_level(logging.ERROR, logger="kazoo.recipe.watchers"):
        DataWatch(zk_client, "/n", broken)
        zk_client.set("/n", b"1")
        settle(zk_client, recorder)
    assert calls == [b"0", b"1"]
    errors = [r for r in caplog.records if r.name == "kazoo.recipe.watchers"]
    assert len(errors) == 2 and all(r.exc_info[0] is TypeError for r in errors)


def test_data_watch_goes_on_after_an_exception(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()

    def func(data, stat):
        rec(data)
        if data == b"1":
            raise RuntimeError("a broken watcher")

    DataWatch(zk_client, "/n", func)
    zk_client.set("/n", b"1")
    assert rec.wait_count(2)
    zk_client.set("/n", b"2")
    assert rec.wait_count(3)
    assert rec.calls == [(b"0",), (b"1",), (b"2",)]


def test_data_watch_decorator_and_second_function(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()
    factory = functools.partial(DataWatch, zk_client)  # what client.DataWatch is

    watch = factory("/n")

    @watch
    def func(data, stat):
        rec(data)

    assert callable(func) and rec.calls == [(b"0",)]
    with pytest.raises(KazooException):
        watch(lambda data, stat: None)
    zk_client.set("/n", b"1")
    assert rec.wait_count(2)
    assert rec.calls == [(b"0",), (b"1",)]


def test_data_watch_extra_arguments_are_deprecated_and_ignored(
    zk_client: KazooClient, recorder
) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()
    with pytest.warns(DeprecationWarning):
        DataWatch(zk_client, "/n", pair(rec), "extra", allow_session_lost=False)
    assert rec.calls == [zk_client.get("/n")]


def test_data_watch_stops_when_func_returns_false(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()
    listeners = set(zk_client.state_listeners)

    def func(data, stat):
        rec(data)
        return False if data == b"1" else None

    DataWatch(zk_client, "/n", func)
    zk_client.set("/n", b"1")
    assert rec.wait_count(2)
    zk_client.set("/n", b"2")
    settle(zk_client, recorder)
    assert rec.calls == [(b"0",), (b"1",)]
    assert zk_client.state_listeners == listeners


def test_data_watch_stop(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/n", b"0")
    rec = recorder()
    listeners = set(zk_client.state_listeners)
    watch = DataWatch(zk_client, "/n", rec)
    watch.stop()
    zk_client.set("/n", b"1")
    zk_client.delete("/n")
    settle(zk_client, recorder)
    assert datas(rec) == [b"0"]
    assert zk_client.state_listeners == listeners


def test_data_watch_calls_run_in_order(zk_client: KazooClient, make_client, recorder) -> None:
    zk_client.create("/n", b"0")
    other = make_client()
    rec = recorder()
    DataWatch(zk_client, "/n", rec)
    for i in range(1, 30):
        other.set("/n", str(i).encode())
    assert rec.wait_for(lambda calls: calls[-1][0] == b"29")
    values = [int(data) for data in datas(rec)]
    assert values == sorted(set(values))  # increasing: in order, never twice
    assert set(rec.threads[1:]) == {WORKER}


def test_data_watch_on_a_stopped_client_raises(make_client, recorder) -> None:
    client = make_client(start=False)
    rec = recorder()
    with pytest.raises(ConnectionClosedError):
        DataWatch(client, "/n", rec)
    assert rec.calls == [] and not client.state_listeners


def test_stopping_the_last_watcher_removes_the_server_watch(zk_client: KazooClient) -> None:
    zk_client.create("/n", b"0")
    first = DataWatch(zk_client, "/n", lambda data, stat: None)
    second = DataWatch(zk_client, "/n", lambda data, stat: None)
    server_path = zk_client.chroot + "/n"
    assert server_path in zk_client.command(b"wchp")  # watches by path, on this server
    first.stop()
    zk_client.sync("/")  # queued after the removal (if any): its reply means it was handled
    assert server_path in zk_client.command(b"wchp")  # the second one still needs it
    second.stop()
    zk_client.sync("/")
    assert server_path not in zk_client.command(b"wchp")


# --------------------------------------------------------------------------- ChildrenWatch


def test_children_watch_calls_at_once_and_on_each_change(
    zk_client: KazooClient, make_client, recorder
) -> None:
    zk_client.create("/p/a", makepath=True)
    zk_client.create("/p/b")
    other = make_client()
    rec = recorder()
    ChildrenWatch(zk_client, "/p", rec)
    assert len(rec.calls) == 1 and sorted(rec.calls[0][0]) == ["a", "b"]
    other.create("/p/c")
    assert rec.wait_count(2)
    other.delete("/p/a")
    assert rec.wait_count(3)
    other.set("/p", b"data is not a child change")
    settle(zk_client, recorder)
    assert [sorted(call[0]) for call in rec.calls] == [["a", "b"], ["a", "b", "c"], ["b", "c"]]
    assert rec.threads[0] == threading.current_thread().name
    assert set(rec.threads[1:]) == {WORKER}


def test_children_watch_send_event(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/p")
    rec = recorder()
    ChildrenWatch(zk_client, "/p", rec, send_event=True)
    zk_client.create("/p/a")
    assert rec.wait_count(2)
    child = WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/p")
    assert rec.calls == [([], None), (["a"], child)]


def test_children_watch_on_a_missing_node_never_calls(zk_client: KazooClient, recorder) -> None:
    rec = recorder()
    ChildrenWatch(zk_client, "/missing", rec)
    zk_client.create("/missing/a", makepath=True)
    settle(zk_client, recorder)
    assert rec.calls == []


def test_children_watch_stops_for_good_when_the_node_is_deleted(
    zk_client: KazooClient, recorder
) -> None:
    zk_client.create("/p")
    rec = recorder()
    listeners = set(zk_client.state_listeners)
    ChildrenWatch(zk_client, "/p", rec)
    zk_client.delete("/p")
    zk_client.create("/p")
    zk_client.create("/p/a")
    settle(zk_client, recorder)
    assert rec.calls == [([],)]
    assert zk_client.state_listeners == listeners


def test_children_watch_stops_when_func_returns_false(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/p")
    rec = recorder()

    def func(children):
        rec(sorted(children))
        return False if children else None

    ChildrenWatch(zk_client, "/p", func)
    zk_client.create("/p/a")
    assert rec.wait_count(2)
    zk_client.create("/p/b")
    settle(zk_client, recorder)
    assert rec.calls == [([],), (["a"],)]


def test_children_watch_stop_and_decorator(zk_client: KazooClient, recorder) -> None:
    zk_client.create("/p")
    rec = recorder()
    watch = functools.partial(ChildrenWatch, zk_client)("/p")

    @watch
    def func(children):
        rec(sorted(children))

    with pytest.raises(KazooException):
        watch(lambda children: None)
    zk_client.create("/p/a")
    assert rec.wait_count(2)
    watch.stop()
    zk_client.create("/p/b")
    settle(zk_client, recorder)
    assert rec.calls == [([],), (["a"],)]


def test_children_watch_goes_on_after_an_exception(
    zk_client: KazooClient, recorder, caplog
) -> None:
    zk_client.create("/p")
    rec = recorder()

    def func(children):
        rec(sorted(children))
        if children == ["a"]:
            raise RuntimeError("a broken watcher")

    with caplog.at_level(logging.ERROR, logger="kazoo.recipe.watchers"):
        ChildrenWatch(zk_client, "/p", func)
        zk_client.create("/p/a")
        assert rec.wait_count(2)
        zk_client.create("/p/b")
        assert rec.wait_count(3)
    assert rec.calls == [([],), (["a"],), (["a", "b"],)]
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def test_watchers_made_inside_a_watcher_function(zk_client: KazooClient, recorder) -> None:
    """The usual pattern: a ChildrenWatch makes a DataWatch per child, on the worker."""
    zk_client.create("/p/a", b"A", makepath=True)
    seen: dict[str, Any] = {}
    made = recorder()

    def on_children(children):
        for name in children:
            if name not in seen:
                seen[name] = recorder()
                DataWatch(zk_client, f"/p/{name}", pair(seen[name]))
                made(name)

    ChildrenWatch(zk_client, "/p", on_children)
    zk_client.create("/p/b", b"B")
    assert made.wait_count(2)  # the second one was made on the callback worker
    zk_client.set("/p/b", b"B2")
    assert seen["b"].wait_count(2)
    assert datas(seen["a"]) == [b"A"] and datas(seen["b"]) == [b"B", b"B2"]
    assert made.threads == [threading.current_thread().name, WORKER]


# --------------------------------------------------------------------------- across faults


def test_watchers_survive_a_dropped_connection(
    zk_client: KazooClient, make_client, recorder
) -> None:
    zk_client.create("/p", b"0")
    data, children = recorder(), recorder()
    DataWatch(zk_client, "/p", data)
    ChildrenWatch(zk_client, "/p", children)
    session_id = zk_client.client_id[0]
    drop_connection(zk_client)
    assert zk_client.client_id[0] == session_id
    other = make_client()
    other.set("/p", b"1")
    other.create("/p/a")
    assert data.wait_count(2) and children.wait_count(2)
    settle(zk_client, recorder)
    assert datas(data) == [b"0", b"1"]
    assert [sorted(call[0]) for call in children.calls] == [[], ["a"]]


def test_watchers_catch_up_on_changes_missed_while_cut_off(
    cluster_guard, chroot: str, make_client, faults, recorder
) -> None:
    client, other, member, rest = faults.cut_off(cluster_guard, chroot, make_client)
    client.create("/p", b"0")
    client.create("/gone", b"x")
    data, gone, children = recorder(), recorder(), recorder()
    DataWatch(client, "/p", lambda d, s, e: data(d, e))
    DataWatch(client, "/gone", pair(gone))
    ChildrenWatch(client, "/p", children, send_event=True)
    states = recorder()
    client.add_listener(states)
    session_id = client.client_id[0]
    with faults.away(client, member, lambda: states.wait_call(KazooState.SUSPENDED)):
        other.set("/p", b"1")
        other.create("/p/a")
        other.delete("/gone")
    assert data.wait_count(2) and gone.wait_count(2) and children.wait_count(2)
    assert client.client_id[0] == session_id
    settle(client, recorder)
    on = KeeperState.CONNECTED
    assert data.calls == [(b"0", None), (b"1", WatchedEvent(EventType.CHANGED, on, "/p"))]
    assert gone.calls[1] == (None, None)
    assert children.calls[1] == (["a"], WatchedEvent(EventType.CHILD, on, "/p"))
    assert (KazooState.LOST,) not in states.calls


def test_watchers_read_again_after_session_expiry(
    cluster_guard, chroot: str, make_client, faults, recorder
) -> None:
    """Changes made while the session expired are found by reading again afterwards."""
    client, other, member, rest = faults.cut_off(cluster_guard, chroot, make_client)
    client.create("/p", b"0")
    data, kept, dropped = recorder(), recorder(), recorder()
    DataWatch(client, "/p", lambda d, s, e: data(d, e))
    ChildrenWatch(client, "/p", lambda c: kept(sorted(c)))
    ChildrenWatch(client, "/p", lambda c: dropped(sorted(c)), allow_session_lost=False)
    states = recorder()
    client.add_listener(states)
    old_id = client.client_id
    with faults.away(client, member, lambda: states.wait_call(KazooState.SUSPENDED)):
        other.set("/p", b"1")
        other.create("/p/a")
        faults.expire_via(old_id, rest)
    renewed = [(KazooState.LOST,), (KazooState.CONNECTED,)]
    assert states.wait_for(lambda calls: calls[-2:] == renewed)
    assert data.wait_count(2) and kept.wait_count(2)
    lost = WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None)
    assert data.calls == [(b"0", None), (b"1", lost)]
    other.set("/p", b"2")  # and the watches are set again on the new session
    other.create("/p/b")
    assert data.wait_count(3) and kept.wait_count(3)
    settle(client, recorder)
    assert data.calls[2][0] == b"2"
    assert kept.calls == [([],), (["a"],), (["a", "b"],)]
    assert dropped.calls == [([],)]


def test_watchers_go_on_after_expire_session(zk_client: KazooClient, make_client, recorder) -> None:
    zk_client.create("/p", b"0")
    data, kept, dropped = recorder(), recorder(), recorder()
    DataWatch(zk_client, "/p", data)
    ChildrenWatch(zk_client, "/p", lambda c: kept(sorted(c)))
    ChildrenWatch(zk_client, "/p", lambda c: dropped(sorted(c)), allow_session_lost=False)
    expire_session(zk_client)
    other = make_client()
    other.set("/p", b"1")
    other.create("/p/a")
    assert data.wait_for(lambda calls: calls[-1][0] == b"1")
    assert kept.wait_for(lambda calls: calls[-1] == (["a"],))
    settle(zk_client, recorder)
    assert dropped.calls == [([],)]


def test_watchers_go_on_after_the_client_restarts(
    zk_client: KazooClient, make_client, recorder
) -> None:
    zk_client.create("/p", b"0")
    data, children = recorder(), recorder()
    DataWatch(zk_client, "/p", pair(data))
    ChildrenWatch(zk_client, "/p", lambda c: children(sorted(c)))
    zk_client.restart()
    other = make_client()
    other.set("/p", b"1")
    other.create("/p/a")
    assert data.wait_for(lambda calls: calls[-1][0] == b"1")
    assert children.wait_for(lambda calls: calls[-1] == (["a"],))


# --------------------------------------------------------------------------- PatientChildrenWatch


def test_patient_children_watch_waits_for_a_quiet_period(zk_client: KazooClient) -> None:
    boundary = 1.0
    zk_client.create("/p/a", makepath=True)
    result = PatientChildrenWatch(zk_client, "/p", time_boundary=boundary).start()
    before = time.monotonic()
    zk_client.create("/p/b")  # a change inside the boundary restarts the quiet period
    assert not result.wait(max(0.0, before + boundary * 0.8 - time.monotonic()))
    children, later = result.get(timeout=WAIT)
    assert sorted(children) == ["a", "b"]
    assert not later.ready()
    changed_at = time.monotonic()
    zk_client.create("/p/c")
    stamp = later.get(timeout=WAIT)
    assert changed_at <= stamp <= time.monotonic()


def test_patient_children_watch_on_a_missing_node_fails(zk_client: KazooClient) -> None:
    result = PatientChildrenWatch(zk_client, "/missing", time_boundary=0.1).start()
    with pytest.raises(NoNodeError):
        result.get(timeout=WAIT)
