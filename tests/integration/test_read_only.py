"""Read-only mode against a real ensemble that loses its quorum and gets it back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.testing import _wire
from kazoo.testing._process import claim_port_base
from kazoo.testing.common import ManagedZooKeeper, ZookeeperCluster
from kazoo.testing.handlers import make_handler

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ro_cluster() -> Iterator[ZookeeperCluster]:
    claim = claim_port_base(3)
    cluster = ZookeeperCluster(
        size=3,
        port_offset=claim.base,
        configuration_entries=[
            "localSessionsEnabled=true",
            "localSessionsUpgradingEnabled=true",
        ],
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.terminate()
        claim.release()


def _hosts(cluster: ZookeeperCluster) -> str:
    return ",".join(f"{host}:{port}" for host, port in (m.address for m in cluster))


def _wait_read_only(member: ManagedZooKeeper, timeout: float = 30.0) -> None:
    """Wait until the survivor has noticed the lost quorum and serves read-only.

    Until then it may still take a new (local) session read-write, and the
    client under test would start CONNECTED instead of CONNECTED_RO.
    """
    deadline = time.monotonic() + timeout
    answer = ""
    while time.monotonic() < deadline:
        try:
            answer = _wire.four_letter_word(member.address, "isro", 2.0).strip()
        except OSError as exc:
            answer = repr(exc)
        if answer == "ro":
            return
        time.sleep(0.05)  # a server's mode has no event to wait on
    raise AssertionError(f"the survivor did not turn read-only (isro said {answer!r})")


def _wait_keeper_state(client: KazooClient, wanted: KeeperState, timeout: float) -> bool:
    done = threading.Event()

    def listener(_state: KazooState) -> None:
        if client.client_state is wanted:
            done.set()

    client.add_listener(listener)
    try:
        return client.client_state is wanted or done.wait(timeout)
    finally:
        client.remove_listener(listener)


def test_read_only_then_back_to_read_write(ro_cluster: ZookeeperCluster) -> None:
    writer = KazooClient(_hosts(ro_cluster), timeout=10, handler=make_handler())
    writer.start()
    try:
        writer.ensure_path("/ro")
        writer.set("/ro", b"before")
    finally:
        writer.stop()
        writer.close()

    survivor, *others = list(ro_cluster)
    for member in others:
        member.stop()
    _wait_read_only(survivor)
    client = KazooClient(
        ",".join(f"{host}:{port}" for host, port in (m.address for m in [survivor, *others])),
        timeout=10,
        read_only=True,
        handler=make_handler(),
    )
    try:
        client.start(timeout=30)
        assert client.client_state is KeeperState.CONNECTED_RO
        assert client.state is KazooState.CONNECTED
        data, _stat = client.get("/ro")
        assert data == b"before"
        with pytest.raises(NotReadOnlyCallError):
            client.set("/ro", b"during")

        moved = threading.Event()

        def on_state(_state: KazooState) -> None:
            if client.client_state is KeeperState.CONNECTED:
                moved.set()

        client.add_listener(on_state)
        for member in others:
            member.run()
        assert moved.wait(60), "the client did not move to a read-write server"
        assert client.client_state is KeeperState.CONNECTED
        client.set("/ro", b"after")
        assert client.get("/ro")[0] == b"after"
    finally:
        for member in others:
            if not member.running:
                member.run()
        client.stop()
        client.close()


def test_async_client_read_only_then_back_to_read_write(ro_cluster: ZookeeperCluster) -> None:
    """The same with AsyncKazooClient: its driver probes ``isro`` over asyncio streams."""
    from kazoo.aio import AsyncKazooClient

    survivor, *others = list(ro_cluster)
    hosts = ",".join(f"{host}:{port}" for host, port in (m.address for m in ro_cluster))

    async def scenario() -> None:
        async with AsyncKazooClient(hosts, timeout=10) as writer:
            await writer.ensure_path("/aro")
            await writer.set("/aro", b"before")
        for member in others:
            await asyncio.to_thread(member.stop)
        await asyncio.to_thread(_wait_read_only, survivor)
        client = AsyncKazooClient(hosts, timeout=10, read_only=True)
        moved = asyncio.Event()

        def on_state(_state: KazooState) -> None:
            if client.client_state is KeeperState.CONNECTED:
                moved.set()

        try:
            await client.start(timeout=30)
            assert client.client_state is KeeperState.CONNECTED_RO
            assert client.state is KazooState.CONNECTED
            assert (await client.get("/aro"))[0] == b"before"
            with pytest.raises(NotReadOnlyCallError):
                await client.set("/aro", b"during")
            client.add_listener(on_state)
            for member in others:
                await asyncio.to_thread(member.run)
            await asyncio.wait_for(moved.wait(), 60)
            await client.set("/aro", b"after")
            assert (await client.get("/aro"))[0] == b"after"
        finally:
            await client.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        for member in others:
            if not member.running:
                member.run()
