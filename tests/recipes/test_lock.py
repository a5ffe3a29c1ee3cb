"""Lock, ReadLock and WriteLock on a real ZooKeeper (API §2.9, §2.10 lock rows, §3.4)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from kazoo.exceptions import (
    CancelledError,
    LockTimeout,
)
from kazoo.recipe.lock import (
    AsyncLock,
    AsyncReadLock,
    AsyncWriteLock,
    Lock,
    ReadLock,
    WriteLock,
)
from tests.recipes.helpers import (
    WAIT,
    Background,
    StateLog,
    await_children,
    blocked_waiter,
    children,
)

pytestmark = pytest.mark.integration

LOCK_NODE = re.compile(r"^[0-9a-f]{32}__lock__\d{10}$")
READ_NODE = re.compile(r"^[0-9a-f]{32}__rlock__\d{10}$")


# --------------------------------------------------------------------------- basics


def test_node_layout_data_owner_and_context_manager(zk_client) -> None:
    lock = Lock(zk_client, "/lk", "worker-1")
    with lock as held:
        assert held is lock
        assert lock.is_acquired
        assert LOCK_NODE.match(lock.node)
        assert children(zk_client, "/lk") == [lock.node]
        data, stat = zk_client.get("/lk/" + lock.node)
        assert data == b"worker-1"
        assert stat.ephemeralOwner == zk_client.client_id[0]
        assert lock.fencing_token == stat.czxid
        assert lock.contenders() == ["worker-1"]
    assert not lock.is_acquired
    assert lock.node is None and lock.fencing_token is None
    assert children(zk_client, "/lk") == []
    assert lock.release() is False


def test_no_identifier_gives_empty_data(zk_client) -> None:
    lock = Lock(zk_client, "/lk")
    assert lock.acquire() is True
    assert zk_client.get("/lk/" + lock.node)[0] == b""
    assert lock.contenders() == [""]
    assert lock.release() is True


def test_second_contender_waits_for_the_release(zk_client, make_client) -> None:
    first = Lock(zk_client, "/lk", "first")
    second = Lock(make_client(), "/lk", "second")
    assert first.acquire()
    waiter = blocked_waiter(second, zk_client, "/lk", 2)
    assert first.contenders() == ["first", "second"]
    assert first.release()
    assert waiter.result() is True
    assert second.is_acquired and not first.is_acquired
    assert second.release()


def test_waits_on_its_predecessor_only(zk_client, make_client, monkeypatch) -> None:
    holder = Lock(zk_client, "/lk", "a")
    middle = Lock(make_client(), "/lk", "b")
    watcher_client = make_client()
    last = Lock(watcher_client, "/lk", "c")
    watched = StateLog()  # names of the nodes `last` sets a watch on
    original = watcher_client.exists

    def spy(path, watch=None):
        if watch is not None:
            watched(path.rsplit("/", 1)[-1])
        return original(path, watch=watch)

    monkeypatch.setattr(watcher_client, "exists", spy)
    assert holder.acquire()
    mid = blocked_waiter(middle, zk_client, "/lk", 2)
    end = blocked_waiter(last, zk_client, "/lk", 3)
    middle_node, holder_node = middle.node, holder.node
    assert watched.wait_states(middle_node)
    assert holder_node not in watched.items  # no herd: only the predecessor is watched
    middle.cancel()
    with pytest.raises(CancelledError):
        mid.result()
    assert watched.wait_states(middle_node, holder_node)  # the next one down, once it is gone
    assert set(watched.items) == {middle_node, holder_node}
    holder.release()
    assert end.result() is True
    assert last.release()


def test_non_blocking_attempt_returns_false_and_removes_its_node(zk_client, make_client) -> None:
    holder = Lock(zk_client, "/lk")
    other = Lock(make_client(), "/lk")
    assert holder.acquire()
    before = children(zk_client, "/lk")
    assert other.acquire(blocking=False) is False
    assert not other.is_acquired and other.node is None
    assert children(zk_client, "/lk") == before
    holder.release()
    assert other.acquire(blocking=False) is True
    other.release()


def test_timeout_raises_lock_timeout_and_removes_the_node(zk_client, make_client) -> None:
    holder = Lock(zk_client, "/lk")
    other = Lock(make_client(), "/lk")
    assert holder.acquire()
    start = time.monotonic()
    with pytest.raises(LockTimeout):
        other.acquire(timeout=1.0)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 3.0
    assert children(zk_client, "/lk") == [holder.node]
    assert not other.is_acquired


def test_timeout_is_a_total_budget_across_waits(zk_client, make_client, monkeypatch) -> None:
    holder = Lock(zk_client, "/lk")
    assert holder.acquire()
    # another contender queued between the holder and us, which goes away mid-wait
    between = zk_client.create("/lk/" + uuid.uuid4().hex + "__lock__", sequence=True)
    waiter_client = make_client()
    watched: list[str] = []
    original = waiter_client.exists

    def spy(path, watch=None):
        if watch is not None:
            watched.append(path)
        return original(path, watch=watch)

    monkeypatch.setattr(waiter_client, "exists", spy)
    start = time.monotonic()
    waiter = blocked_waiter(Lock(waiter_client, "/lk"), zk_client, "/lk", 3, timeout=3.0)
    time.sleep(max(0.0, start + 1.5 - time.monotonic()))  # 1.5 s go on waiting for `between`
    zk_client.delete(between)
    assert time.monotonic() - start < 2.5, "the machine is too slow for this test's timing"
    with pytest.raises(LockTimeout):
        waiter.result()
    elapsed = time.monotonic() - start
    assert len(watched) == 2  # it did wait twice...
    assert 3.0 <= elapsed < 4.0  # ...within one budget (per-wait timeouts would take 4.5 s+)
    assert children(zk_client, "/lk") == [holder.node]


def test_cancel_from_another_thread(zk_client, make_client) -> None:
    holder = Lock(zk_client, "/lk")
    other = Lock(make_client(), "/lk")
    assert holder.acquire()
    waiter = blocked_waiter(other, zk_client, "/lk", 2)
    other.cancel()
    with pytest.raises(CancelledError):
        waiter.result()
    assert other.cancelled
    assert children(zk_client, "/lk") == [holder.node]
    holder.release()
    assert other.acquire(blocking=False) is True  # a new acquire is not cancelled
    assert not other.cancelled
    other.release()


def test_not_reentrant(zk_client) -> None:
    lock = Lock(zk_client, "/lk")
    assert lock.acquire()
    node = lock.node
    assert lock.acquire(blocking=False) is False
    start = time.monotonic()
    assert lock.acquire(timeout=0.5) is False
    assert 0.5 <= time.monotonic() - start < 2.5
    assert children(zk_client, "/lk") == [node]
    second = Background(lock.acquire, timeout=WAIT)
    assert not second.done.wait(0.2)
    assert lock.release()
    assert second.result() is True
    assert lock.is_acquired and lock.node != node
    assert lock.release()


def test_contenders_lists_kinds_in_acquisition_order(zk_client, make_client) -> None:
    writer = WriteLock(zk_client, "/rw", "w1")
    reader = ReadLock(make_client(), "/rw", "r1")
    plain = Lock(make_client(), "/rw", "l1")
    assert writer.acquire()
    r = blocked_waiter(reader, zk_client, "/rw", 2)
    p = blocked_waiter(plain, zk_client, "/rw", 3)
    assert READ_NODE.match(reader.node) and LOCK_NODE.match(plain.node)
    assert ReadLock(zk_client, "/rw").contenders() == ["w1", "r1", "l1"]
    assert WriteLock(zk_client, "/rw").contenders() == ["w1", "r1", "l1"]
    assert Lock(zk_client, "/rw").contenders() == ["w1", "l1"]  # a Lock does not see readers
    assert Lock(zk_client, "/absent").contenders() == []
    writer.release()
    assert r.result() and p.result()  # the reader shares; the Lock ignores readers
    reader.release()
    plain.release()


def test_extra_lock_patterns_block_and_are_listed(zk_client, make_client) -> None:
    curator = make_client()
    foreign = curator.create(
        "/lk/_c_" + uuid.uuid4().hex + "-lock-",
        b"curator",
        ephemeral=True,
        sequence=True,
        makepath=True,
    )
    aware = Lock(zk_client, "/lk", "me", extra_lock_patterns=["-lock-"])
    assert aware.acquire(blocking=False) is False
    assert aware.contenders() == ["curator"]
    assert Lock(zk_client, "/lk").contenders() == []  # without the pattern it is not seen
    blind = Lock(zk_client, "/lk")
    assert blind.acquire(blocking=False) is True
    blind.release()
    waiter = blocked_waiter(aware, zk_client, "/lk", 2)
    curator.delete(foreign)
    assert waiter.result() is True
    aware.release()


def test_read_locks_share_and_write_locks_exclude(zk_client, make_client) -> None:
    other = make_client()
    r1, r2 = ReadLock(zk_client, "/rw", "r1"), ReadLock(other, "/rw", "r2")
    assert r1.acquire(blocking=False) and r2.acquire(blocking=False)
    plain = Lock(other, "/rw")
    assert plain.acquire(blocking=False) is True  # a plain Lock ignores readers
    assert plain.release()
    writer = WriteLock(other, "/rw", "w")
    assert writer.acquire(blocking=False) is False
    w = blocked_waiter(writer, zk_client, "/rw", 3)
    assert r1.release()
    assert WriteLock(zk_client, "/rw").acquire(blocking=False) is False  # r2 still reads
    assert r2.release()
    assert w.result() is True
    assert ReadLock(zk_client, "/rw").acquire(blocking=False) is False  # the writer excludes
    late = ReadLock(zk_client, "/rw", "late")
    waiter = blocked_waiter(late, other, "/rw", 2)
    assert writer.release()
    assert waiter.result() is True
    late.release()


def test_sequence_order_is_integer_and_survives_the_wrap(zk_client) -> None:
    zk_client.ensure_path("/lk")
    earlier = "/lk/" + uuid.uuid4().hex + "__lock__0000000000"
    zk_client.create(earlier, b"earlier")
    zk_client.create("/lk/" + uuid.uuid4().hex + "__lock__2147483647", b"max")
    zk_client.create("/lk/" + uuid.uuid4().hex + "__lock__-2147483648", b"wrapped")
    lock = Lock(zk_client, "/lk", "me")
    assert lock.acquire(blocking=False) is False  # 0 < our sequence number (3)
    zk_client.delete(earlier)
    # compared as strings, "-2147483648" would sort first and block us
    assert lock.acquire(blocking=False) is True
    assert lock.contenders() == ["me", "max", "wrapped"]
    lock.release()


def test_fencing_tokens_strictly_increase_across_holders(zk_client, make_client) -> None:
    clients = [zk_client, make_client()]
    tokens = []
    for round_ in range(6):
        client = clients[round_ % 2]
        lock = (Lock if round_ % 3 else WriteLock)(client, "/fence")
        with lock:
            assert lock.fencing_token == client.exists("/fence/" + lock.node).czxid
            tokens.append(lock.fencing_token)
        assert lock.fencing_token is None
    assert tokens == sorted(set(tokens))


def test_paths_and_patterns_are_validated(zk_client) -> None:
    with pytest.raises(ValueError, match="empty segment"):
        Lock(zk_client, "/a//b")
    with pytest.raises(ValueError, match="must start with"):
        ReadLock(zk_client, "relative")
    with pytest.raises(ValueError, match="must not end with"):
        WriteLock(zk_client, "/a/")
    with pytest.raises(ValueError, match="extra lock patterns"):
        Lock(zk_client, "/a", extra_lock_patterns=[""])


# --------------------------------------------------------------------------- asyncio


def test_async_lock_context_manager_and_interop_with_blocking(aio, zk_client) -> None:
    blocking = Lock(zk_client, "/al", "blocking")

    async def body(azk) -> None:
        async with AsyncLock(azk, "/al", "async") as lock:
            assert lock.is_acquired and LOCK_NODE.match(lock.node)
            assert await lock.contenders() == ["async"]
            first = lock.fencing_token
            assert blocking.acquire(blocking=False) is False  # same node layout
        assert not lock.is_acquired and lock.fencing_token is None
        assert blocking.acquire()
        waiter = AsyncLock(azk, "/al", "waiter")
        task = asyncio.ensure_future(waiter.acquire())
        await await_children(azk, "/al", lambda names: len(names) == 2)
        assert not task.done()
        assert await waiter.contenders() == ["blocking", "waiter"]
        second = blocking.fencing_token
        assert blocking.release()
        assert await asyncio.wait_for(task, WAIT) is True
        assert first < second < waiter.fencing_token
        assert await waiter.release() is True
        assert await waiter.release() is False

    aio(body)


def test_async_cancellation_removes_the_contender_node(aio) -> None:
    async def body(azk) -> None:
        holder = AsyncLock(azk, "/ac")
        assert await holder.acquire()
        waiter = AsyncLock(azk, "/ac")
        task = asyncio.ensure_future(waiter.acquire())
        await await_children(azk, "/ac", lambda names: len(names) == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await azk.get_children("/ac") == [holder.node]
        assert not waiter.is_acquired
        # kazoo's own cancel() works the same way
        task = asyncio.ensure_future(waiter.acquire())
        await await_children(azk, "/ac", lambda names: len(names) == 2)
        waiter.cancel()
        with pytest.raises(CancelledError):
            await task
        assert await azk.get_children("/ac") == [holder.node]
        await holder.release()
        assert await waiter.acquire(timeout=WAIT) is True
        await waiter.release()

    aio(body)


def test_async_read_write_locks_and_timeouts(aio) -> None:
    async def body(azk) -> None:
        r1, r2 = AsyncReadLock(azk, "/arw", "r1"), AsyncReadLock(azk, "/arw", "r2")
        writer = AsyncWriteLock(azk, "/arw", "w")
        assert await r1.acquire() and await r2.acquire(blocking=False)
        assert await writer.acquire(blocking=False) is False
        with pytest.raises(LockTimeout):
            await writer.acquire(timeout=0.3)
        assert sorted(await azk.get_children("/arw")) == sorted([r1.node, r2.node])
        await r1.release()
        await r2.release()
        async with writer:
            assert await AsyncReadLock(azk, "/arw").acquire(blocking=False) is False
        assert await azk.get_children("/arw") == []

    aio(body)
