"""Watches of AsyncKazooClient against a real ZooKeeper: callbacks (plain and coroutine),
their order, and the async iterators watch_data / watch_children / watch_events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kazoo import _aio_watch
from kazoo.exceptions import NoWatcherError
from kazoo.protocol.states import AddWatchMode, EventType, KeeperState, WatchedEvent, WatcherType

from .conftest import WAIT, AEventLog, Clients, drain, drop, expire, flush_watches

pytestmark = pytest.mark.integration

CONNECTED = KeeperState.CONNECTED


def ev(kind: EventType, path: str, state: KeeperState = CONNECTED) -> WatchedEvent:
    return WatchedEvent(kind, state, path)


async def anext_(iterator: Any, timeout: float = WAIT) -> Any:
    return await asyncio.wait_for(iterator.__anext__(), timeout)


# -- callbacks ------------------------------------------------------------------------------


async def test_one_shot_watches_of_every_kind(aio_clients: Clients) -> None:
    zk = await aio_clients()
    other = await aio_clients()
    await zk.create("/w", b"0")
    data, exist, child, gone = AEventLog(), AEventLog(), AEventLog(), AEventLog()
    await zk.get("/w", watch=data)
    await zk.exists("/new", watch=exist)
    await zk.get_children("/w", watch=child)
    await zk.create("/gone")
    await zk.exists("/gone", watch=gone)
    await other.set("/w", b"1")
    await other.create("/new")
    await other.create("/w/kid")
    await other.delete("/gone")
    await other.set("/w", b"2")  # one-shot: no second CHANGED
    await flush_watches(zk)
    assert data.items == [ev(EventType.CHANGED, "/w")]
    assert exist.items == [ev(EventType.CREATED, "/new")]
    assert child.items == [ev(EventType.CHILD, "/w")]
    assert gone.items == [ev(EventType.DELETED, "/gone")]


async def test_coroutine_callbacks_run_one_at_a_time_in_event_order(aio_clients: Clients) -> None:
    zk = await aio_clients()
    order: list[str] = []
    release = asyncio.Event()
    first_running = asyncio.Event()

    async def slow(event: WatchedEvent) -> None:
        order.append(f"slow-start {event.path}")
        first_running.set()
        await release.wait()
        order.append(f"slow-end {event.path}")

    def quick(event: WatchedEvent) -> None:
        order.append(f"quick {event.path}")

    await zk.exists("/a", watch=slow)
    await zk.exists("/b", watch=quick)
    await zk.create("/a")
    await zk.create("/b")
    await asyncio.wait_for(first_running.wait(), WAIT)
    # a slow callback delays the later callbacks, never the I/O
    assert (await zk.get("/b"))[0] == b""
    assert order == ["slow-start /a"]
    release.set()
    await drain(zk)
    assert order == ["slow-start /a", "slow-end /a", "quick /b"]


async def test_a_raising_callback_does_not_stop_the_others(aio_clients: Clients) -> None:
    zk = await aio_clients()
    log = AEventLog()

    async def broken(event: WatchedEvent) -> None:
        raise RuntimeError("a broken watch callback")

    await zk.exists("/x", watch=broken)
    await zk.exists("/x", watch=log)
    await zk.create("/x")
    assert await log.wait_count(1)
    assert log.items == [ev(EventType.CREATED, "/x")]


async def test_persistent_and_recursive_watches(aio_clients: Clients) -> None:
    zk = await aio_clients()
    flat, tree = AEventLog(), AEventLog()
    # (the server keeps one mode per path and session: two paths for two modes)
    assert await zk.add_watch("/p/q", flat, AddWatchMode.PERSISTENT) is True
    assert await zk.add_watch("/p", tree, AddWatchMode.PERSISTENT_RECURSIVE) is True
    await zk.create("/p/q", makepath=True)
    await zk.create("/p/q/kid")
    await zk.set("/p/q/kid", b"1")
    await flush_watches(zk)
    assert flat.items == [ev(EventType.CREATED, "/p/q"), ev(EventType.CHILD, "/p/q")]
    assert tree.items == [
        ev(EventType.CREATED, "/p"),
        ev(EventType.CREATED, "/p/q"),
        ev(EventType.CREATED, "/p/q/kid"),
        ev(EventType.CHANGED, "/p/q/kid"),
    ]
    assert await zk.remove_all_watches("/p/q", WatcherType.ANY) is True
    assert await zk.remove_all_watches("/p", WatcherType.ANY) is True
    await zk.set("/p/q", b"2")
    await flush_watches(zk)
    assert len(flat.items) == 2 and len(tree.items) == 4
    with pytest.raises(NoWatcherError):
        await zk.remove_all_watches("/p", WatcherType.ANY)


async def test_watches_survive_a_dropped_connection(aio_clients: Clients) -> None:
    zk = await aio_clients()
    other = await aio_clients()
    await zk.create("/w", b"0")
    data, tree = AEventLog(), AEventLog()
    await zk.get("/w", watch=data)
    await zk.add_watch("/w", tree, AddWatchMode.PERSISTENT_RECURSIVE)
    session = zk.client_id[0]
    await drop(zk)
    assert zk.client_id[0] == session
    assert await tree.wait_item(ev(EventType.NONE, "/w"))  # re-armed notice
    await other.set("/w", b"1")
    assert await data.wait_count(1)
    await flush_watches(zk)
    assert data.items == [ev(EventType.CHANGED, "/w")]
    assert tree.items == [ev(EventType.NONE, "/w"), ev(EventType.CHANGED, "/w")]


# -- watch_data ----------------------------------------------------------------------------------


async def test_watch_data_follows_the_node(aio_clients: Clients) -> None:
    zk = await aio_clients()
    other = await aio_clients()
    feed = zk.watch_data("/cfg")
    assert await anext_(feed) == (None, None, None)  # absent: at once
    await other.create("/cfg", b"1")
    data, stat, event = await anext_(feed)
    assert (data, stat.version, event) == (b"1", 0, ev(EventType.CREATED, "/cfg"))
    await other.set("/cfg", b"2")
    data, stat, event = await anext_(feed)
    assert (data, stat.version, event.type) == (b"2", 1, EventType.CHANGED)
    await other.delete("/cfg")
    assert await anext_(feed) == (None, None, ev(EventType.DELETED, "/cfg"))
    await feed.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext_(feed)


async def test_watch_data_coalesces_for_a_slow_consumer(aio_clients: Clients) -> None:
    zk = await aio_clients()
    await zk.create("/cfg", b"0")
    feed = zk.watch_data("/cfg")
    assert (await anext_(feed))[0] == b"0"
    for value in (b"1", b"2", b"3", b"4"):
        await zk.set("/cfg", value)
    await flush_watches(zk)
    data, stat, event = await anext_(feed)
    assert (data, stat.version) == (b"4", 4)  # the latest state, the rest coalesced
    assert event == ev(EventType.CHANGED, "/cfg")
    await zk.set("/cfg", b"5")
    assert (await anext_(feed))[0] == b"5"
    await feed.aclose()


async def test_async_for_over_watch_data_and_break_removes_the_server_watch(
    aio_clients: Clients,
) -> None:
    zk = await aio_clients()
    await zk.create("/cfg", b"0")
    seen = []

    async def consume() -> None:
        async for data, _stat, _event in zk.watch_data("/cfg"):
            seen.append(data)
            if data == b"1":
                break
            await zk.set("/cfg", b"1")

    await asyncio.wait_for(consume(), WAIT)
    assert seen == [b"0", b"1"]
    await drain(zk)  # the dropped iterator's release ran
    with pytest.raises(NoWatcherError):  # neither the client nor the server has one
        await zk.remove_all_watches("/cfg", WatcherType.DATA)


async def test_aclose_keeps_the_server_watch_while_another_watcher_needs_it(
    aio_clients: Clients,
) -> None:
    zk = await aio_clients()
    await zk.create("/cfg", b"0")
    log = AEventLog()
    await zk.get("/cfg", watch=log)
    feed = zk.watch_data("/cfg")
    await anext_(feed)
    await feed.aclose()
    await zk.set("/cfg", b"1")
    assert await log.wait_item(ev(EventType.CHANGED, "/cfg"))


async def test_watch_data_continues_across_lost(aio_clients: Clients) -> None:
    zk = await aio_clients()
    feed = zk.watch_data("/eph")
    assert await anext_(feed) == (None, None, None)
    await zk.create("/eph", b"mine", ephemeral=True)
    assert (await anext_(feed))[0] == b"mine"
    await expire(zk)  # the ephemeral node goes with the session
    data, stat, event = await anext_(feed)
    assert (data, stat) == (None, None)
    assert event in (
        ev(EventType.DELETED, "/eph"),
        WatchedEvent(EventType.NONE, KeeperState.EXPIRED_SESSION, None),
    )
    await zk.create("/eph", b"again", ephemeral=True)  # on the new session
    assert (await anext_(feed))[0] == b"again"
    await feed.aclose()


async def test_iterators_end_when_the_client_stops(aio_clients: Clients) -> None:
    zk = await aio_clients()
    await zk.create("/n")
    data_feed, child_feed = zk.watch_data("/n"), zk.watch_children("/n")
    event_feed = zk.watch_events("/n")
    await anext_(data_feed)
    await anext_(child_feed)
    waiting = [asyncio.ensure_future(anext_(f)) for f in (data_feed, child_feed, event_feed)]
    await asyncio.sleep(0)
    await zk.stop()
    for task in waiting:
        with pytest.raises(StopAsyncIteration):
            await task


# -- watch_children -----------------------------------------------------------------------------


async def test_watch_children_until_the_node_is_deleted(aio_clients: Clients) -> None:
    zk = await aio_clients()
    other = await aio_clients()
    with pytest.raises(StopAsyncIteration):  # no node: the iteration ends at once
        await anext_(zk.watch_children("/dir"))
    await zk.create("/dir")
    feed = zk.watch_children("/dir")
    assert await anext_(feed) == ([], None)
    await other.create("/dir/a")
    children, event = await anext_(feed)
    assert (children, event) == (["a"], ev(EventType.CHILD, "/dir"))
    await other.delete("/dir", recursive=True)
    items = []
    async for item in feed:  # CHILD for the removed kid, then the deletion ends it
        items.append(item)
    assert items in ([], [([], ev(EventType.CHILD, "/dir"))])


# -- watch_events -------------------------------------------------------------------------------


async def test_watch_events_yields_a_recursive_watchs_events(aio_clients: Clients) -> None:
    zk = await aio_clients()
    feed = zk.watch_events("/tree")  # armed now: sees everything after this line
    await zk.create("/tree/a/b", makepath=True)
    await zk.set("/tree/a/b", b"x")
    expected = [
        ev(EventType.CREATED, "/tree"),
        ev(EventType.CREATED, "/tree/a"),
        ev(EventType.CREATED, "/tree/a/b"),
        ev(EventType.CHANGED, "/tree/a/b"),
    ]
    assert [await anext_(feed) for _ in expected] == expected
    await feed.aclose()
    # 3.8 refuses removeWatches type 5; once that answer is in (first round trip) the
    # client removes the path's watches with type ANY (done by the second)
    await zk.sync("/")
    await zk.sync("/")
    with pytest.raises(NoWatcherError):
        await zk.remove_all_watches("/tree", WatcherType.ANY)


async def test_watch_events_overflow_yields_one_reread_marker(
    aio_clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_aio_watch, "EVENT_BUFFER", 5)
    zk = await aio_clients()
    feed = zk.watch_events("/o", AddWatchMode.PERSISTENT)
    await zk.create("/o")
    for i in range(6):  # 7 events for a buffer of 5
        await zk.set("/o", str(i).encode())
    await flush_watches(zk)
    first = await anext_(feed)
    assert first == WatchedEvent(EventType.NONE, CONNECTED, "/o")  # in place of the dropped
    rest = [await anext_(feed) for _ in range(2)]
    assert rest == [ev(EventType.CHANGED, "/o")] * 2
    await zk.set("/o", b"after")
    assert await anext_(feed) == ev(EventType.CHANGED, "/o")
    await feed.aclose()


async def test_watch_events_argument_errors(aio_clients: Clients) -> None:
    zk = await aio_clients()
    with pytest.raises(ValueError):
        zk.watch_events("/x", 7)
    with pytest.raises(TypeError):
        zk.watch_events("/x", "recursive")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        zk.watch_events("x")


async def test_a_consumer_that_times_out_can_come_back(aio_clients: Clients) -> None:
    zk = await aio_clients()
    events, data = zk.watch_events("/t"), zk.watch_data("/t")
    for feed in (events, data):
        if feed is data:
            await anext_(data)  # the first read
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(feed.__anext__(), 0.05)
    await zk.create("/t", b"1")
    assert await anext_(events) == ev(EventType.CREATED, "/t")
    assert (await anext_(data))[0] == b"1"
    await events.aclose()
    await data.aclose()
