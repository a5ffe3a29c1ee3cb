"""AsyncKazooClient operations against a real ZooKeeper ensemble: results, errors, chroot,
transactions, retry, four-letter words, concurrency and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from typing import Any

import pytest

from kazoo.aio import AsyncKazooClient
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.retry import ForceRetryError, KazooRetry, RetryFailedError
from kazoo.security import ClientInfo, make_digest_acl

from .conftest import WAIT, Clients

pytestmark = pytest.mark.integration


async def test_create_get_set_delete_and_their_errors(aio_clients: Clients) -> None:
    zk = await aio_clients()
    assert await zk.create("/n", b"v") == "/n"
    with pytest.raises(NodeExistsError):
        await zk.create("/n")
    with pytest.raises(NoNodeError):
        await zk.create("/missing/kid")
    data, stat = await zk.get("/n")
    assert data == b"v" and isinstance(stat, ZnodeStat) and stat.version == 0
    assert (await zk.set("/n", b"w")).version == 1
    with pytest.raises(BadVersionError):
        await zk.set("/n", b"x", version=0)
    assert await zk.exists("/n") is not None
    assert await zk.exists("/nope") is None
    with pytest.raises(NoNodeError):
        await zk.get("/nope")
    await zk.create("/n/kid")
    with pytest.raises(NotEmptyError):
        await zk.delete("/n")
    assert await zk.get_children("/n") == ["kid"]
    children, parent = await zk.get_children("/n", include_data=True)
    assert children == ["kid"] and parent.numChildren == 1
    with pytest.raises(BadVersionError):
        await zk.delete("/n/kid", version=5)
    assert await zk.delete("/n/kid") is True
    assert await zk.delete("/n") is True
    assert await zk.create("/none", None) == "/none"
    assert (await zk.get("/none"))[0] is None


async def test_create_variants(aio_clients: Clients) -> None:
    zk = await aio_clients()
    path, stat = await zk.create("/e", ephemeral=True, include_data=True)
    assert path == "/e" and stat.ephemeralOwner == zk.client_id[0]
    first = await zk.create("/q/item-", sequence=True, makepath=True)
    second = await zk.create("/q/item-", sequence=True)
    assert first < second and first.startswith("/q/item-")
    assert await zk.create("/deep/er/node", b"d", makepath=True) == "/deep/er/node"
    assert await zk.ensure_path("/deep/er") is True
    assert await zk.ensure_path("/new/path") == "/new/path"
    assert await zk.create("/box", container=True) == "/box"
    assert (await zk.exists("/box")).ephemeralOwner == 0
    assert await zk.create("/ttl", ttl=60_000) == "/ttl"
    assert await zk.get_all_children_number("/deep") == 2
    assert await zk.get_ephemerals() == ["/e"]
    assert await zk.delete("/deep", recursive=True) is True
    assert await zk.delete("/deep", recursive=True) is True  # a missing top node is fine
    assert await zk.exists("/deep") is None


async def test_argument_errors_are_raised_before_anything_is_sent(aio_clients: Clients) -> None:
    zk = await aio_clients()
    with pytest.raises(TypeError):
        await zk.create("/x", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await zk.get("relative")
    with pytest.raises(ValueError):
        await zk.exists("/trailing/")
    with pytest.raises(TypeError):
        await zk.delete("/x", recursive="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await zk.get("/x", watch="not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await zk.add_auth("digest", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await zk.create("/c", container=True, ephemeral=True)
    with pytest.raises(ValueError):
        zk.watch_data("no-slash")
    assert await zk.get_children("/") == []  # nothing was created by the bad calls


async def test_acls_and_digest_auth(aio_clients: Clients) -> None:
    zk = await aio_clients()
    acl = make_digest_acl("alice", "secret", all=True)
    await zk.create("/secret", b"s", acl=[acl])
    other = await aio_clients()
    await other.sync("/")  # its member may lag behind zk's
    with pytest.raises(NoAuthError):
        await other.get("/secret")
    assert await other.add_auth("digest", "alice:secret") is True
    assert (await other.get("/secret"))[0] == b"s"
    acls, stat = await other.get_acls("/secret")
    assert acls == [acl]
    assert (await other.set_acls("/secret", acls, version=stat.aversion)).aversion == 1
    assert ClientInfo("digest", "alice") in await other.whoami()
    with_data = await aio_clients(auth_data=[("digest", "alice:secret")])
    await with_data.sync("/")
    assert (await with_data.get("/secret"))[0] == b"s"


async def test_sync_reconfig_and_four_letter_words(aio_clients: Clients) -> None:
    zk = await aio_clients()
    assert await zk.sync("/") == "/"
    assert (await zk.command(b"ruok")) == "imok"
    version = await zk.server_version()
    assert version >= (3, 5)
    with pytest.raises(ValueError):
        await zk.command(b"toolong")
    assert "Zookeeper version" in await zk.command(b"srvr")


async def test_transactions(aio_clients: Clients) -> None:
    zk = await aio_clients()
    await zk.create("/t", b"0")
    t = zk.transaction()
    t.create("/t/a", b"a")
    t.set_data("/t", b"1")
    t.check("/t", 1)
    created, stat, checked = await t.commit()
    assert (created, stat.version, checked) == ("/t/a", 1, True)
    with pytest.raises(ValueError):
        t.delete("/t/a")  # committed
    async with zk.transaction() as t2:
        t2.delete("/t/a")
    assert t2.committed and await zk.exists("/t/a") is None
    failing = zk.transaction()
    failing.create("/t/b")
    failing.set_data("/t", b"x", version=99)
    failing.delete("/t")
    results = await failing.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert await zk.exists("/t/b") is None
    with pytest.raises(TypeError):
        with zk.transaction():
            pass
    with pytest.raises(KeyError):
        async with zk.transaction() as t3:
            t3.create("/never")
            raise KeyError("nothing is sent")
    assert not t3.committed and await zk.exists("/never") is None
    assert await zk.transaction().commit() == []


async def test_chroot_paths_are_relative(zk_hosts: str, chroot: str, aio_clients: Clients) -> None:
    zk = await aio_clients()
    servers = zk_hosts[: zk_hosts.index("/")]
    root = await aio_clients(servers)
    assert zk.chroot == chroot
    await zk.create("/c", b"1", ephemeral=True)
    await root.sync("/")
    assert await root.exists(chroot + "/c") is not None
    assert zk.unchroot(chroot + "/c") == "/c"
    assert zk.unchroot(chroot) == "/"
    assert await zk.get_ephemerals() == ["/c"]
    seq = await zk.create("/s-", sequence=True)
    assert seq.startswith("/s-")
    t = zk.transaction()
    t.create("/tx")
    assert await t.commit() == ["/tx"]


async def test_chroot_missing_warns_at_start(servers: str) -> None:
    zk = AsyncKazooClient(servers + "/no-such-chroot-node", timeout=10.0)
    try:
        with pytest.warns(UserWarning):
            await zk.start(timeout=WAIT)
        assert zk.connected
    finally:
        await zk.close()


async def test_retry_reruns_a_coroutine_function(aio_clients: Clients) -> None:
    zk = await aio_clients(command_retry={"max_tries": 3, "delay": 0.01})
    calls: list[int] = []

    async def flaky(value: int) -> int:
        calls.append(value)
        if len(calls) < 3:
            raise ConnectionLoss("not yet")
        return value * 2

    assert await zk.retry(flaky, 21) == 42
    assert len(calls) == 3

    async def always() -> None:
        raise ForceRetryError()

    with pytest.raises(RetryFailedError) as info:
        await zk.retry(always)
    assert isinstance(info.value.__cause__, ForceRetryError)
    assert await zk.retry(zk.create, "/r") == "/r"
    policy = KazooRetry(max_tries=2, delay=0.01)  # time.sleep: only its numbers are used
    other = await aio_clients(command_retry=policy)
    with pytest.raises(RetryFailedError):
        await other.retry(always)


async def test_calls_on_a_stopped_or_unstarted_client_raise_connection_closed(
    zk_hosts: str, aio_clients: Clients
) -> None:
    idle = AsyncKazooClient(zk_hosts)
    with pytest.raises(ConnectionClosedError):
        await idle.get("/")
    zk = await aio_clients()
    await zk.stop()
    for call in (zk.get("/"), zk.create("/x"), zk.ensure_path("/x"), zk.transaction().commit()):
        with pytest.raises(ConnectionClosedError):
            await call
    with pytest.raises(ConnectionLoss):
        await zk.command()


async def _call(client: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """How the recipe runner calls the client: by name, awaited."""
    return await getattr(client, name)(*args, **kwargs)


async def test_recipe_runner_style_calls(aio_clients: Clients) -> None:
    """What a recipe runner does: getattr + await, listeners, watch callbacks setting an
    asyncio.Event, client_id and state."""
    zk = await aio_clients()
    for name in ("create", "get", "get_children", "exists", "delete", "set", "retry", "sync"):
        assert inspect.iscoroutinefunction(getattr(zk, name)), name
    assert await _call(zk, "create", "/r", b"1", ephemeral=True) == "/r"
    fired = asyncio.Event()
    await _call(zk, "exists", "/r", watch=lambda event: fired.set())
    await _call(zk, "set", "/r", b"2")
    await asyncio.wait_for(fired.wait(), WAIT)
    stat = (await _call(zk, "retry", zk.get, "/r"))[1]
    assert stat.ephemeralOwner == zk.client_id[0]
    assert zk.state == "CONNECTED"
    t = zk.transaction()
    t.delete("/r")
    assert await _call(t, "commit") == [True]


async def test_a_thousand_concurrent_gets_from_many_tasks(aio_clients: Clients) -> None:
    zk = await aio_clients()
    await zk.create("/n", b"v")
    for i in range(10):
        await zk.create(f"/n/{i}", str(i).encode())

    async def worker(i: int) -> list[Any]:
        return [await zk.get(f"/n/{(i + j) % 10}") for j in range(10)]

    started = time.monotonic()
    batches = await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(100))), 30.0)
    singles = await asyncio.gather(*(zk.get("/n") for _ in range(1000)))
    elapsed = time.monotonic() - started
    for i, batch in enumerate(batches):  # every reply went to its own caller
        assert [data for data, _ in batch] == [str((i + j) % 10).encode() for j in range(10)]
    assert all(data == b"v" for data, _ in singles)
    assert elapsed < 30.0


async def test_cancelled_callers_never_corrupt_the_connection(aio_clients: Clients) -> None:
    zk = await aio_clients()
    for i in range(20):
        await zk.create(f"/c{i}", str(i).encode())
    session = zk.client_id
    tasks = [asyncio.ensure_future(zk.get(f"/c{i % 20}")) for i in range(200)]
    await asyncio.sleep(0)  # every request is now submitted
    for task in tasks[::2]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for i, outcome in enumerate(done):
        if i % 2 == 0:
            assert isinstance(outcome, asyncio.CancelledError)
        else:
            assert outcome[0] == str(i % 20).encode()  # matched to its own caller
    cancelled_create = asyncio.ensure_future(zk.create("/made-anyway"))
    await asyncio.sleep(0)
    cancelled_create.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled_create
    assert [(await zk.get(f"/c{i}"))[0] for i in range(20)] == [
        str(i).encode() for i in range(20)
    ]
    assert await zk.exists("/made-anyway") is not None  # the wait was cancelled, not the create
    assert zk.client_id == session and zk.connected  # no drop, no reconnect


async def test_cancelled_multi_step_op_leaves_the_connection_usable(aio_clients: Clients) -> None:
    zk = await aio_clients()
    task = asyncio.ensure_future(zk.ensure_path("/a/b/c/d/e/f"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await zk.ensure_path("/a/b/c/d/e/f") in (True, "/a/b/c/d/e/f")
    assert await zk.delete("/a", recursive=True) is True


async def test_awaiting_a_threading_handler_result_inside_a_running_loop(zk_hosts: str) -> None:
    blocking = KazooClient(zk_hosts, timeout=15.0)
    await asyncio.to_thread(blocking.start, WAIT)
    try:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.ensure_future(ticker())
        try:
            await blocking.create_async("/blocking", b"b")
            data, stat = await blocking.get_async("/blocking")
            missing = blocking.get_async("/missing")
            with pytest.raises(NoNodeError):
                await missing
            request = blocking.get_async("/blocking")
            waiter = asyncio.ensure_future(asyncio.wait_for(request, WAIT))
            await asyncio.sleep(0)
            waiter.cancel()  # usually before the reply; the driver thread may be faster
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            assert (await request)[0] == b"b"  # the request itself was not cancelled
        finally:
            stop.set()
            await ticking
        assert data == b"b" and stat.version == 0
        assert ticks > 0  # the loop kept running while the results were awaited
        assert blocking.get("/blocking")[0] == b"b"  # the client is fine after the cancel
    finally:
        await asyncio.to_thread(_stop_and_close, blocking)


def _stop_and_close(client: KazooClient) -> None:
    client.stop()
    client.close()
