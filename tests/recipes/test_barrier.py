"""Barrier and DoubleBarrier against real ZooKeeper: layouts, budgets, disconnects,
session expiry, asyncio."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.barrier import AsyncBarrier, AsyncDoubleBarrier, Barrier, DoubleBarrier
from kazoo.testing import drop_connection, expire_session
from tests.recipes.helpers import Background

pytestmark = pytest.mark.integration



def members(client: KazooClient, path: str) -> list[str]:
    return sorted(name for name in client.get_children(path) if name != "ready")


# --------------------------------------------------------------------------- Barrier


def test_barrier_create_wait_remove(zk_client: KazooClient, make_client) -> None:
    barrier = Barrier(zk_client, "/b/one")
    assert barrier.wait(timeout=1) is True, "no node: the barrier is down"
    barrier.create()
    assert zk_client.exists("/b/one") is not None
    barrier.create()  # idempotent
    started = time.monotonic()
    assert barrier.wait(timeout=0.4) is False
    assert 0.35 <= time.monotonic() - started < 3
    waiting = Background(Barrier(make_client(), "/b/one").wait, 20)
    assert not waiting.done.wait(0.2)
    assert barrier.remove() is True
    assert waiting.result() is True
    assert barrier.remove() is False


@pytest.mark.parametrize("fault", [drop_connection, expire_session], ids=["dropped", "expired"])
def test_barrier_wait_survives_connection_faults(
    zk_client: KazooClient, make_client, fault: Callable[[KazooClient], None]
) -> None:
    Barrier(make_client(), "/b").create()
    waiting = Background(Barrier(zk_client, "/b").wait, 30)
    assert not waiting.done.wait(0.2)
    fault(zk_client)
    assert not waiting.done.wait(0.2), "neither a disconnect nor LOST lowers the barrier"
    started = time.monotonic()
    assert Barrier(make_client(), "/b").remove() is True
    assert waiting.result() is True
    assert time.monotonic() - started < 5


def test_barrier_wait_ends_when_the_client_stops(make_client) -> None:
    client = make_client()
    Barrier(client, "/b").create()
    waiting = Background(Barrier(client, "/b").wait, 30)
    assert not waiting.done.wait(0.2)
    client.stop()
    with pytest.raises(ConnectionClosedError):
        waiting.result(timeout=5)
    for call in (Barrier(client, "/b").create, Barrier(client, "/b").wait):
        with pytest.raises(ConnectionClosedError):
            call()
    with pytest.raises(ValueError, match="empty segment"):
        Barrier(client, "/a//b")


def test_async_barrier(aio, make_client) -> None:
    helper = make_client()

    async def body(azk: Any) -> None:
        barrier = AsyncBarrier(azk, "/ab")
        await barrier.create()
        assert await barrier.wait(timeout=0.1) is False
        waiting = asyncio.ensure_future(barrier.wait(timeout=20))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await asyncio.get_running_loop().run_in_executor(None, helper.delete, "/ab")
        assert await waiting is True
        assert await barrier.remove() is False

    aio(body)


# --------------------------------------------------------------------------- DoubleBarrier


def test_double_barrier_enter_and_leave_together(make_client) -> None:
    observer = make_client()
    barriers = [DoubleBarrier(make_client(), "/db", 3, identifier=f"m{i}") for i in range(3)]
    first = Background(barriers[0].enter)
    second = Background(barriers[1].enter)
    assert not first.done.wait(0.3) and not second.done.wait(0.01), "only 2 of 3 are there"
    assert len(members(observer, "/db")) == 2
    assert observer.exists("/db/ready") is None
    barriers[2].enter()
    first.result(), second.result()
    assert all(b.participating for b in barriers)
    names = members(observer, "/db")
    assert sorted(names) == sorted(b.node_name for b in barriers)
    for b in barriers:
        assert re.fullmatch(r"[0-9a-f]{32}", b.node_name)
        data, stat = observer.get(b.create_path)
        assert data == b.identifier.encode() and stat.ephemeralOwner == b.client.client_id[0]
    assert observer.exists("/db/ready") is not None
    leaving = [Background(b.leave) for b in barriers[:2]]
    assert not leaving[0].done.wait(0.3), "leave waits for every member"
    barriers[2].leave()
    for job in leaving:
        job.result()
    assert not any(b.participating for b in barriers)
    assert observer.get_children("/db") == []


def test_double_barrier_can_be_used_again(make_client) -> None:
    barriers = [DoubleBarrier(make_client(), "/db", 2) for _ in range(2)]
    for _round in range(2):
        entering = Background(barriers[0].enter, 10)
        assert not entering.done.wait(0.2), "the previous round's ready node is gone"
        barriers[1].enter(timeout=10)
        entering.result()
        assert barriers[0].participating and barriers[1].participating
        leaving = Background(barriers[0].leave, 10)
        barriers[1].leave(timeout=10)
        leaving.result()


def test_double_barrier_enter_timeout_cleans_up(zk_client: KazooClient) -> None:
    barrier = DoubleBarrier(zk_client, "/db", 2)
    assert barrier.identifier == f"{socket.getfqdn()}-{os.getpid()}"
    started = time.monotonic()
    assert barrier.enter(timeout=0.5) is None
    assert 0.45 <= time.monotonic() - started < 3
    assert barrier.participating is False
    assert zk_client.get_children("/db") == []


def test_double_barrier_leave_timeout_cleans_up(zk_client: KazooClient, make_client) -> None:
    stay = DoubleBarrier(make_client(), "/db", 2)
    barrier = DoubleBarrier(zk_client, "/db", 2)
    entering = Background(stay.enter, 10)
    barrier.enter(timeout=10)
    entering.result()
    started = time.monotonic()
    barrier.leave(timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 3
    assert barrier.participating is False
    assert members(zk_client, "/db") == [stay.node_name]
    stay.leave(timeout=5)
    assert zk_client.get_children("/db") == []


def test_double_barrier_participating_false_on_lost(zk_client: KazooClient) -> None:
    barrier = DoubleBarrier(zk_client, "/db", 1)
    barrier.enter(timeout=10)
    assert barrier.participating is True
    expire_session(zk_client)
    assert barrier.participating is False
    assert zk_client.exists(barrier.create_path) is None


def test_double_barrier_enter_survives_session_expiry(zk_client: KazooClient, make_client) -> None:
    barrier = DoubleBarrier(zk_client, "/db", 2)
    entering = Background(barrier.enter, 30)
    assert not entering.done.wait(0.3)
    expire_session(zk_client)
    other = DoubleBarrier(make_client(), "/db", 2)
    other.enter(timeout=10)
    entering.result()
    assert barrier.participating and other.participating
    _data, stat = zk_client.get(barrier.create_path)
    assert stat.ephemeralOwner == zk_client.client_id[0], "made again on the new session"
    leaving = Background(other.leave, 10)
    barrier.leave(timeout=10)
    leaving.result()
    assert zk_client.get_children("/db") == []


def test_double_barrier_bad_arguments_and_stopped_client(make_client) -> None:
    client = make_client()
    with pytest.raises(TypeError):
        DoubleBarrier(client, "/db", "2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DoubleBarrier(client, "/db", 0)
    with pytest.raises(ValueError):
        DoubleBarrier(client, "db", 2)
    client.stop()
    with pytest.raises(ConnectionClosedError):
        DoubleBarrier(client, "/db", 1).enter()


def test_async_double_barrier(aio) -> None:
    async def body(azk: Any) -> None:
        barriers = [AsyncDoubleBarrier(azk, "/adb", 2, identifier=f"a{i}") for i in range(2)]
        alone = asyncio.ensure_future(barriers[0].enter(timeout=20))
        await asyncio.sleep(0.2)
        assert not alone.done()
        await barriers[1].enter(timeout=20)
        await alone
        assert all(b.participating for b in barriers)
        await asyncio.gather(*(b.leave(timeout=20) for b in barriers))
        assert not any(b.participating for b in barriers)
        assert await azk.get_children("/adb") == []
        lonely = AsyncDoubleBarrier(azk, "/adb", 2)
        await lonely.enter(timeout=0.3)
        assert lonely.participating is False
        assert await azk.get_children("/adb") == []

    aio(body)
