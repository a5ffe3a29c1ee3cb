"""Recipe factories on both clients (API §2.1.2, §3.5) and the re-exports from kazoo.client."""

from __future__ import annotations

import asyncio
import functools

import pytest

import kazoo.client
from kazoo.aio import AsyncKazooClient
from kazoo.client import KazooClient
from kazoo.recipe import (
    barrier,
    counter,
    election,
    lease,
    lock,
    partitioner,
    party,
    queue,
    watchers,
)

BLOCKING = {
    "Barrier": barrier.Barrier,
    "Counter": counter.Counter,
    "DoubleBarrier": barrier.DoubleBarrier,
    "ChildrenWatch": watchers.ChildrenWatch,
    "DataWatch": watchers.DataWatch,
    "Election": election.Election,
    "Lock": lock.Lock,
    "ReadLock": lock.ReadLock,
    "WriteLock": lock.WriteLock,
    "Semaphore": lock.Semaphore,
    "Party": party.Party,
    "ShallowParty": party.ShallowParty,
    "Queue": queue.Queue,
    "LockingQueue": queue.LockingQueue,
    "SetPartitioner": partitioner.SetPartitioner,
    "NonBlockingLease": lease.NonBlockingLease,
    "MultiNonBlockingLease": lease.MultiNonBlockingLease,
}
ASYNC = {
    "Barrier": barrier.AsyncBarrier,
    "Counter": counter.AsyncCounter,
    "DoubleBarrier": barrier.AsyncDoubleBarrier,
    "Election": election.AsyncElection,
    "Lock": lock.AsyncLock,
    "ReadLock": lock.AsyncReadLock,
    "WriteLock": lock.AsyncWriteLock,
    "Semaphore": lock.AsyncSemaphore,
    "Party": party.AsyncParty,
    "ShallowParty": party.AsyncShallowParty,
    "Queue": queue.AsyncQueue,
    "LockingQueue": queue.AsyncLockingQueue,
}


@pytest.mark.parametrize("name", sorted(BLOCKING))
def test_blocking_factory_is_a_partial_of_the_recipe_class(name: str) -> None:
    client = KazooClient()
    factory = getattr(client, name)
    assert isinstance(factory, functools.partial)
    assert factory.func is BLOCKING[name] and factory.args == (client,)
    assert getattr(kazoo.client, name) is BLOCKING[name]
    assert name in kazoo.client.__all__


def test_async_factories_make_the_async_classes() -> None:
    async def main() -> None:
        client = AsyncKazooClient()
        for name, cls in ASYNC.items():
            factory = getattr(client, name)
            assert factory.func is cls and factory.args == (client,), name
        made = client.Lock("/l", "me")
        assert isinstance(made, lock.AsyncLock) and made.client is client

    asyncio.run(main())


def test_a_blocking_recipe_refuses_the_async_client() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="AsyncKazooClient"):
            lock.Lock(AsyncKazooClient(), "/l")

    asyncio.run(main())
