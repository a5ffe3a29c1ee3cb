"""Failover in the 3-member ensemble: the member a client is connected to dies."""

from __future__ import annotations

import pytest

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent

pytestmark = pytest.mark.integration

WAIT = 15.0
FAILOVER_WAIT = 40.0  # covers a leader election when the killed member led


def _fast_reconnect_client(make_client, hosts: str) -> KazooClient:
    return make_client(
        hosts,
        timeout=20.0,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
    )


@pytest.mark.parametrize("role", ["follower", "leader"])
def test_session_survives_the_death_of_its_member(
    cluster_guard, zk_hosts: str, servers: str, chroot: str, make_client, helpers, role: str
) -> None:
    cluster = cluster_guard
    client = _fast_reconnect_client(make_client, zk_hosts)
    # put the client on a member of the wanted role: restrict its hosts to that member,
    # then widen them again (set_hosts applies from the next connect pass)
    target = next(m for m in cluster if helpers.mode(m) == role)
    if helpers.member_of(cluster, client) is not target:
        client.stop()
        client = _fast_reconnect_client(make_client, f"{target.host}:{target.client_port}{chroot}")
    client.set_hosts(zk_hosts)
    assert helpers.member_of(cluster, client) is target

    client.create("/eph", b"mine", ephemeral=True)
    client.create("/w", b"0")
    watch = helpers.EventLog()
    client.get("/w", watch=watch)
    states = helpers.EventLog()
    client.add_listener(states)
    session_id = client.client_id[0]

    target.kill()
    assert states.wait_item(KazooState.SUSPENDED, timeout=WAIT), states.items
    assert states.wait_item(KazooState.CONNECTED, timeout=FAILOVER_WAIT), states.items
    assert KazooState.LOST not in states.items
    assert client.client_id[0] == session_id
    assert helpers.member_of(cluster, client) is not target

    survivors = ",".join(f"{m.host}:{m.client_port}" for m in cluster if m is not target)
    other = make_client(survivors + chroot, timeout=20.0)
    other.sync("/")
    stat = other.exists("/eph")
    assert stat is not None and stat.ephemeralOwner == session_id
    other.set("/w", b"1")
    assert watch.wait_count(1)
    helpers.flush_watches(client)
    assert watch.items == [WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/w")]

    # the member comes back, rejoins the quorum and serves the same data
    target.run()
    rejoined = make_client(f"{target.host}:{target.client_port}{chroot}")
    rejoined.sync("/")
    assert rejoined.get("/w")[0] == b"1"
    assert rejoined.exists("/eph").ephemeralOwner == session_id
    assert client.get("/eph")[0] == b"mine"
    assert cluster.healthy()


def test_client_fails_over_past_a_dead_host_in_its_list(
    cluster_guard, chroot: str, make_client, helpers
) -> None:
    """A stopped member in the host list is skipped; the client connects to a live one."""
    cluster = cluster_guard
    dead = next(m for m in cluster if helpers.mode(m) == "follower")
    dead.stop()
    hosts = ",".join(f"{m.host}:{m.client_port}" for m in cluster)
    for _ in range(3):  # randomised order: some passes try the dead member first
        client = make_client(hosts + chroot, timeout=10.0)
        assert client.connected
        assert helpers.member_of(cluster, client) is not dead
        assert client.create("/n", ephemeral=True) == "/n"
        client.stop()
