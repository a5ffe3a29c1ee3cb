"""Queue and LockingQueue against real ZooKeeper: layouts, ordering (wrap included),
claims, transactions, watches, concurrency, session expiry, asyncio."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.queue import (
    AsyncLockingQueue,
    AsyncQueue,
    LockingQueue,
    Queue,
    entry_key,
    sorted_entries,
)
from kazoo.testing import drop_connection, expire_session
from tests.recipes.helpers import Background

pytestmark = pytest.mark.integration

ENTRY = re.compile(r"entry-(\d{3})-(-?\d{10})")


# --------------------------------------------------------------------------- naming


def test_entry_names_order_by_priority_then_sequence_with_wrap() -> None:
    names = [
        "entry-100--2147483647",
        "entry-100-2147483647",
        "entry-005-0000000009",
        "entry-100--2147483648",
        "entry-100-0000000001",
        "taken",
        "entry-1000-0000000001",
        "entry-100-12",
    ]
    assert sorted_entries(names) == [
        "entry-005-0000000009",
        "entry-100-0000000001",
        "entry-100-2147483647",
        "entry-100--2147483648",
        "entry-100--2147483647",
    ]
    assert entry_key("entry-042-0000000007") == (42, 7)
    assert entry_key("entry-0x1-0000000007") is None


# --------------------------------------------------------------------------- Queue


def test_queue_layout_priority_and_fifo(zk_client: KazooClient) -> None:
    queue = Queue(zk_client, "/q")
    for value, priority in ((b"late", 100), (b"urgent", 1), (b"later", 100), (b"urgent2", 1)):
        queue.put(value, priority=priority)
    queue.put(b"default")
    names = zk_client.get_children("/q")
    assert len(names) == 5 and all(ENTRY.fullmatch(name) for name in names)
    assert sorted(name[6:9] for name in names) == ["001", "001", "100", "100", "100"]
    assert len(queue) == 5
    got = [queue.get() for _ in range(5)]
    assert got == [b"urgent", b"urgent2", b"late", b"later", b"default"]
    assert queue.get() is None
    assert len(queue) == 0


def test_queue_empty_or_missing_path(zk_client: KazooClient) -> None:
    queue = Queue(zk_client, "/nothing/here")
    assert queue.get() is None
    assert len(queue) == 0
    assert zk_client.exists("/nothing") is None


def test_queue_order_survives_the_sequence_wrap(zk_client: KazooClient) -> None:
    # Nodes named as the server names them around 2**31 (made by hand: the counter
    # itself cannot be advanced that far in a test).
    zk_client.ensure_path("/wrap")
    for seq in ("-2147483647", "2147483646", "-2147483648", "2147483647"):
        zk_client.create(f"/wrap/entry-100-{seq}", seq.encode())
    zk_client.create("/wrap/entry-200-0000000001", b"low priority")
    queue = Queue(zk_client, "/wrap")
    got = [queue.get() for _ in range(5)]
    assert got == [b"2147483646", b"2147483647", b"-2147483648", b"-2147483647", b"low priority"]


def test_queue_reads_items_of_other_writers(zk_client: KazooClient) -> None:
    zk_client.create("/old/entry-050-", b"from old kazoo", sequence=True, makepath=True)
    zk_client.create("/old/unrelated", b"x")
    queue = Queue(zk_client, "/old")
    assert len(queue) == 1
    assert queue.get() == b"from old kazoo"
    assert queue.get() is None
    assert zk_client.exists("/old/unrelated") is not None


@pytest.mark.parametrize(
    ("value", "priority", "error"),
    [
        ("text", 100, TypeError),
        (None, 100, TypeError),
        (b"v", "1", TypeError),
        (b"v", 1.0, TypeError),
        (b"v", True, TypeError),
        (b"v", -1, ValueError),
        (b"v", 1000, ValueError),
    ],
)
def test_queue_rejects_bad_arguments(zk_client: KazooClient, value, priority, error) -> None:
    for queue in (Queue(zk_client, "/bad"), LockingQueue(zk_client, "/bad2")):
        with pytest.raises(error):
            queue.put(value, priority=priority)
    assert zk_client.exists("/bad") is None and zk_client.exists("/bad2") is None


def test_queue_bad_path_and_stopped_client(zk_hosts: str, make_client) -> None:
    client = make_client()
    for cls in (Queue, LockingQueue):
        with pytest.raises(ValueError, match="must not end with"):
            cls(client, "/q/")
    client.stop()
    never = make_client(start=False)
    for target in (client, never):
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            Queue(target, "/q").put(b"x")
        with pytest.raises(ConnectionClosedError):
            LockingQueue(target, "/q").get(timeout=5)
        assert time.monotonic() - started < 2


def _produce(client: KazooClient, cls: type, path: str, tag: int, count: int) -> None:
    queue = cls(client, path)
    for i in range(count):
        queue.put(f"{tag}-{i}".encode(), priority=i % 3)


def _exchange(make_client, cls: type, path: str, take: Callable[[Any], Any]) -> None:
    """3 producers put 100 items each while 3 consumers take them with ``take(queue)`` (an
    item or ``None``); every item must arrive exactly once."""
    per_producer, producers = 100, 3
    total = per_producer * producers
    got: list[bytes] = []
    lock = threading.Lock()
    produced = [
        Background(_produce, make_client(), cls, path, p, per_producer) for p in range(producers)
    ]

    def consume(client: KazooClient) -> None:
        queue = cls(client, path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if len(got) >= total:
                    return
            item = take(queue)
            if item is not None:
                with lock:
                    got.append(item)

    consumers = [Background(consume, make_client()) for _ in range(3)]
    for job in produced + consumers:
        job.result(timeout=100)
    expected = [f"{p}-{i}".encode() for p in range(producers) for i in range(per_producer)]
    assert sorted(got) == sorted(expected)


def test_queue_concurrent_producers_and_consumers(make_client) -> None:
    def take(queue: Queue) -> bytes | None:
        item = queue.get()
        if item is None:
            time.sleep(0.01)  # Queue.get never blocks: poll
        return item

    _exchange(make_client, Queue, "/cq", take)
    assert Queue(make_client(), "/cq").get() is None


# --------------------------------------------------------------------------- LockingQueue


def test_locking_queue_layout_claim_and_consume(zk_client: KazooClient) -> None:
    queue = LockingQueue(zk_client, "/lq")
    queue.put(b"one")
    queue.put(b"zero", priority=0)
    [first, second] = sorted_entries(zk_client.get_children("/lq/entries"))
    assert ENTRY.fullmatch(first) and first.startswith("entry-000-")
    assert zk_client.get_children("/lq/taken") == []
    assert queue.get() == b"zero"
    data, stat = zk_client.get(f"/lq/taken/{first}")
    assert re.fullmatch(rb"[0-9a-f]{32}", data) and data == queue.id
    assert stat.ephemeralOwner == zk_client.client_id[0]
    assert queue.holds_lock()
    assert queue.get() == b"zero"  # the same item until consumed or released
    assert len(queue) == 2  # claimed items count
    assert queue.consume() is True
    assert zk_client.exists(f"/lq/entries/{first}") is None
    assert zk_client.get_children("/lq/taken") == []
    assert not queue.holds_lock()
    assert queue.consume() is False and queue.release() is False
    assert queue.get() == b"one" and queue.consume()
    assert len(queue) == 0
    assert queue.get(timeout=0) is None


def test_locking_queue_release_hands_the_item_to_another_consumer(
    zk_client: KazooClient, make_client
) -> None:
    first = LockingQueue(zk_client, "/lq")
    second = LockingQueue(make_client(), "/lq")
    first.put(b"only")
    assert first.get() == b"only"
    waiting = Background(second.get, 20)
    assert not waiting.done.wait(0.3), "a claimed item is not handed out twice"
    started = time.monotonic()
    assert first.release() is True
    assert waiting.result() == b"only"
    assert time.monotonic() - started < 5, "woken by the released claim, not by the timeout"
    assert first.release() is False
    assert second.consume() is True
    assert len(first) == 0


def test_locking_queue_get_takes_any_free_item(zk_client: KazooClient, make_client) -> None:
    queue = LockingQueue(zk_client, "/lq")
    queue.put_all([b"a", b"b", b"c"])
    names = sorted_entries(zk_client.get_children("/lq/entries"))
    # a claim by some other consumer on the first item
    other = make_client()
    other.create(f"/lq/taken/{names[0]}", b"f" * 32, ephemeral=True)
    assert queue.get(timeout=5) == b"b"
    second = LockingQueue(make_client(), "/lq")
    assert second.get(timeout=5) == b"c"
    assert LockingQueue(make_client(), "/lq").get(timeout=0.2) is None


def test_locking_queue_get_waits_for_a_put_within_its_budget(
    zk_client: KazooClient, make_client
) -> None:
    queue = LockingQueue(zk_client, "/lq")
    started = time.monotonic()
    assert queue.get(timeout=0.5) is None
    assert 0.45 <= time.monotonic() - started < 3
    waiting = Background(queue.get, 20)
    assert not waiting.done.wait(0.2)
    started = time.monotonic()
    LockingQueue(make_client(), "/lq").put(b"late")
    assert waiting.result() == b"late"
    assert time.monotonic() - started < 5


class RecordingClient:
    """The real client, noting every ``watch=`` a recipe passes to ``get_children``."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self.watches: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_children(self, path: str, watch: Any = None, include_data: bool = False) -> Any:
        if watch is not None:
            self.watches.append((path, watch))
        return self._client.get_children(path, watch=watch, include_data=include_data)


def test_locking_queue_watches_do_not_pile_up(zk_client: KazooClient, make_client) -> None:
    recording = RecordingClient(zk_client)
    queue = LockingQueue(recording, "/lq")
    for _ in range(10):
        assert queue.get(timeout=0.02) is None
    # one pending watch per path, set by the first call and reused by the others
    assert sorted(path for path, _w in recording.watches) == ["/lq/entries", "/lq/taken"]
    LockingQueue(make_client(), "/lq").put(b"x")
    assert queue.get(timeout=5) == b"x"
    assert len(recording.watches) <= 4  # re-armed at most once after firing


def test_locking_queue_consume_false_when_the_item_vanished(
    zk_client: KazooClient, make_client
) -> None:
    queue = LockingQueue(zk_client, "/lq")
    queue.put(b"v")
    assert queue.get() == b"v"
    [name] = zk_client.get_children("/lq/entries")
    make_client().delete(f"/lq/entries/{name}")  # a consumer that ignores claims
    assert queue.consume() is False
    assert zk_client.get_children("/lq/taken") == [], "the dangling claim is removed"
    assert queue.processing_element is None


def test_locking_queue_put_all_is_one_transaction(zk_client: KazooClient) -> None:
    queue = LockingQueue(zk_client, "/lq")
    queue.put_all([b"1", b"2", b"3"], priority=7)
    names = sorted_entries(zk_client.get_children("/lq/entries"))
    seqs = [int(name[10:]) for name in names]
    assert [name[:10] for name in names] == ["entry-007-"] * 3
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    for expected in (b"1", b"2", b"3"):
        assert queue.get() == expected and queue.consume()
    with pytest.raises(TypeError):
        queue.put_all((b"a",))
    with pytest.raises(TypeError):
        queue.put_all([b"a", "b"])
    with pytest.raises(ValueError):
        queue.put_all([b"a"], priority=1000)
    queue.put_all([])
    assert len(queue) == 0


def test_locking_queue_claim_expires_with_the_session(zk_client: KazooClient, make_client) -> None:
    holder = LockingQueue(zk_client, "/lq")
    holder.put(b"precious")
    assert holder.get() == b"precious"
    expire_session(zk_client)
    assert holder.holds_lock() is False
    other = LockingQueue(make_client(), "/lq")
    assert other.get(timeout=5) == b"precious", "the item is not lost with the claim"
    assert holder.consume() is False
    assert other.consume() is True
    holder.put(b"next")
    assert holder.get(timeout=5) == b"next", "a fresh claim, not the stale item"
    assert holder.consume() is True


def test_locking_queue_get_survives_a_dropped_connection(
    zk_client: KazooClient, make_client
) -> None:
    queue = LockingQueue(zk_client, "/lq")
    waiting = Background(queue.get, 30)
    assert not waiting.done.wait(0.2)
    drop_connection(zk_client)
    LockingQueue(make_client(), "/lq").put(b"after")
    assert waiting.result() == b"after"
    assert queue.consume() is True


def test_locking_queue_concurrent_producers_and_consumers(make_client) -> None:
    def take(queue: LockingQueue) -> bytes | None:
        item = queue.get(timeout=0.5)
        if item is not None:
            assert queue.consume() is True
        return item

    _exchange(make_client, LockingQueue, "/clq", take)
    assert len(LockingQueue(make_client(), "/clq")) == 0


# --------------------------------------------------------------------------- asyncio


def test_async_queue(aio) -> None:
    async def body(azk: Any) -> None:
        queue = AsyncQueue(azk, "/aq")
        await queue.put(b"b", priority=5)
        await queue.put(b"a", priority=1)
        assert await queue.count() == 2
        assert await queue.get() == b"a"
        assert await queue.get() == b"b"
        assert await queue.get() is None
        with pytest.raises(TypeError):
            await queue.put("str")

    aio(body)


def test_async_locking_queue_and_cancellation(aio) -> None:
    async def body(azk: Any) -> None:
        queue = AsyncLockingQueue(azk, "/alq")
        other = AsyncLockingQueue(azk, "/alq")
        assert await queue.get(timeout=0.1) is None
        waiting = asyncio.ensure_future(other.get())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await azk.get_children("/alq/taken") == []
        getter = asyncio.ensure_future(queue.get(timeout=10))
        await queue.put_all([b"x", b"y"])
        assert await getter == b"x"
        assert await queue.holds_lock()
        assert await other.get(timeout=5) == b"y"
        assert await other.release() is True
        assert await queue.consume() is True
        assert await queue.get(timeout=5) == b"y" and await queue.consume()
        assert await queue.count() == 0

    aio(body)
