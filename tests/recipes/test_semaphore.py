"""Semaphore on a real ZooKeeper (API §2.9, §2.10 Semaphore rows)."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from kazoo.exceptions import CancelledError, ConnectionClosedError, LockTimeout
from kazoo.recipe.lock import AsyncSemaphore, Semaphore
from kazoo.testing import drop_connection, expire_session
from tests.recipes.helpers import WAIT, Background, await_children, children, wait_children

pytestmark = pytest.mark.integration

LEASE = re.compile(r"^[0-9a-f]{32}$")


def test_layout_and_context_manager(zk_client) -> None:
    semaphore = Semaphore(zk_client, "/sem", "id-1", max_leases=2)
    with semaphore as held:
        assert held is semaphore and semaphore.is_acquired
        assert zk_client.get("/sem")[0] == b"2"
        (lease,) = children(zk_client, "/sem")
        assert LEASE.match(lease)
        data, stat = zk_client.get("/sem/" + lease)
        assert data == b"id-1" and stat.ephemeralOwner == zk_client.client_id[0]
        assert children(zk_client, "/sem-__lock__") == []  # only held while acquiring
        assert semaphore.lease_holders() == ["id-1"]
    assert not semaphore.is_acquired
    assert children(zk_client, "/sem") == []
    assert semaphore.release() is False
    assert Semaphore(zk_client, "/absent").lease_holders() == []


def test_leases_are_limited_and_freed(zk_client, make_client) -> None:
    a, b = Semaphore(zk_client, "/sem", "a", 2), Semaphore(make_client(), "/sem", "b", 2)
    c = Semaphore(make_client(), "/sem", "c", 2)
    assert a.acquire() and b.acquire(blocking=False)
    assert a.acquire() is True  # already holding a lease: nothing more to do
    assert c.acquire(blocking=False) is False
    assert sorted(c.lease_holders()) == ["a", "b"]
    waiter = Background(c.acquire)
    wait_children(zk_client, "/sem-__lock__", lambda names: len(names) == 1)
    assert not waiter.done.is_set()
    assert b.release()
    assert waiter.result() is True
    zk_client.sync("/")  # `a` reads through another server than the one `c` wrote through
    assert sorted(a.lease_holders()) == ["a", "c"]
    a.release()
    c.release()


def test_never_more_holders_than_leases_under_concurrency(zk_client, make_client) -> None:
    clients = [zk_client, make_client(), make_client()]
    inside, peak, errors = [0], [0], []
    guard = threading.Lock()

    def worker(index: int) -> None:
        semaphore = Semaphore(clients[index % 3], "/sem", f"w{index}", max_leases=2)
        try:
            for _ in range(4):
                with semaphore:
                    with guard:
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                    leases = len(children(zk_client, "/sem"))
                    assert leases <= 2, f"{leases} leases"
                    time.sleep(0.1)  # hold the lease a little while
                    with guard:
                        inside[0] -= 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert peak[0] == 2  # used both leases, never more
    assert children(zk_client, "/sem") == []
    assert children(zk_client, "/sem-__lock__") == []


def test_max_leases_must_match_the_stored_number(zk_client) -> None:
    assert Semaphore(zk_client, "/sem", max_leases=3).acquire(blocking=False)
    with pytest.raises(ValueError, match="max_leases 3"):
        Semaphore(zk_client, "/sem", max_leases=2).acquire()
    zk_client.ensure_path("/plain")  # no number stored: ignored
    semaphore = Semaphore(zk_client, "/plain", max_leases=2)
    assert semaphore.acquire() and semaphore.release()
    zk_client.set("/plain", b"not a number")
    assert semaphore.acquire() and semaphore.release()
    with pytest.raises(ValueError):
        Semaphore(zk_client, "/sem", max_leases=0)
    with pytest.raises(TypeError):
        Semaphore(zk_client, "/sem", max_leases="2")
    with pytest.raises(ValueError, match="empty segment"):
        Semaphore(zk_client, "//sem")


def test_timeout_and_cancel_leave_no_nodes(zk_client, make_client) -> None:
    holder = Semaphore(zk_client, "/sem", "holder")
    other = Semaphore(make_client(), "/sem", "other")
    assert holder.acquire()
    start = time.monotonic()
    with pytest.raises(LockTimeout):
        other.acquire(timeout=0.5)
    assert 0.5 <= time.monotonic() - start < 2.5
    assert children(zk_client, "/sem-__lock__") == []
    waiter = Background(other.acquire)
    wait_children(zk_client, "/sem-__lock__", lambda names: len(names) == 1)
    other.cancel()
    with pytest.raises(CancelledError):
        waiter.result()
    assert children(zk_client, "/sem-__lock__") == []
    assert holder.lease_holders() == ["holder"]
    holder.release()


def test_session_expiry_while_holding_frees_the_lease(zk_client, make_client) -> None:
    client = make_client()
    semaphore = Semaphore(client, "/sem", "x")
    assert semaphore.acquire()
    expire_session(client)
    wait_children(zk_client, "/sem", lambda names: names == [])
    assert not semaphore.is_acquired
    assert semaphore.release() is False
    other = Semaphore(zk_client, "/sem")
    assert other.acquire(blocking=False)
    other.release()
    assert semaphore.acquire(timeout=WAIT)
    semaphore.release()


def test_session_expiry_of_the_waiting_lock_holder(zk_client, make_client) -> None:
    holder = Semaphore(zk_client, "/sem", "holder")
    client = make_client()
    waiter_semaphore = Semaphore(client, "/sem", "waiter")
    assert holder.acquire()
    waiter = Background(waiter_semaphore.acquire, timeout=WAIT)
    before = wait_children(zk_client, "/sem-__lock__", lambda names: len(names) == 1)
    expire_session(client)  # its serialising lock node goes with the session...
    wait_children(  # ...and it queues up again on the new session
        zk_client, "/sem-__lock__", lambda names: len(names) == 1 and names != before
    )
    assert not waiter.done.is_set()
    holder.release()
    assert waiter.result() is True
    zk_client.sync("/")
    assert holder.lease_holders() == ["waiter"]
    assert waiter_semaphore.release()


def test_reconnect_keeps_the_lease(make_client) -> None:
    client = make_client()
    semaphore = Semaphore(client, "/sem")
    assert semaphore.acquire()
    session = client.client_id[0]
    drop_connection(client)
    assert client.client_id[0] == session
    assert semaphore.is_acquired
    assert semaphore.release() is True


def test_stopped_client_raises_at_once(make_client) -> None:
    client = make_client(start=False)
    semaphore = Semaphore(client, "/sem")
    with pytest.raises(ConnectionClosedError):
        semaphore.acquire()
    with pytest.raises(ConnectionClosedError):
        semaphore.lease_holders()


def test_async_semaphore(aio) -> None:
    async def body(azk) -> None:
        a, b = AsyncSemaphore(azk, "/as", "a", 2), AsyncSemaphore(azk, "/as", "b", 2)
        async with a, b:
            assert sorted(await a.lease_holders()) == ["a", "b"]
            third = AsyncSemaphore(azk, "/as", "c", 2)
            assert await third.acquire(blocking=False) is False
            with pytest.raises(LockTimeout):
                await third.acquire(timeout=0.3)
            task = asyncio.ensure_future(third.acquire())
            await await_children(azk, "/as-__lock__", lambda names: len(names) == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await azk.get_children("/as-__lock__") == []
            task = asyncio.ensure_future(third.acquire())
            await await_children(azk, "/as-__lock__", lambda names: len(names) == 1)
        assert await asyncio.wait_for(task, WAIT) is True
        assert await third.lease_holders() == ["c"]
        assert await third.release() is True

    aio(body)
