"""NonBlockingLease and MultiNonBlockingLease against real ZooKeeper (API §2.10): layout,
take-over of ended leases, renewal, slots, clocks, stopped clients."""

from __future__ import annotations

import datetime
import json
import socket
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.lease import MultiNonBlockingLease, NonBlockingLease, utcnow

pytestmark = pytest.mark.integration

T0 = datetime.datetime(2030, 1, 2, 3, 4, 5)
HOUR = datetime.timedelta(hours=1)


class Clock:
    """An injectable ``utcnow`` that moves only when told to."""

    def __init__(self, now: datetime.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, delta: datetime.timedelta) -> None:
        self.now += delta


def holder(client: KazooClient, path: str) -> dict[str, Any]:
    data, _stat = client.get(f"{path}/lease_holder")
    return json.loads(data.decode("utf-8"))  # type: ignore[no-any-return]


def test_layout_and_truthiness(zk_client: KazooClient) -> None:
    lease = NonBlockingLease(zk_client, "/lease", HOUR, identifier="me", utcnow=Clock())
    assert lease and lease.obtained is True
    assert holder(zk_client, "/lease") == {
        "version": 1,
        "holder": "me",
        "end": "2030-01-02T04:04:05",
    }
    raw = zk_client.get("/lease/lease_holder")[0]
    assert list(json.loads(raw)) == ["version", "holder", "end"]
    assert zk_client.get_children("/lease") == ["lease_holder"], "the lock node is gone"
    assert zk_client.exists("/lease/lease_holder").ephemeralOwner == 0


def test_a_running_lease_is_refused_to_others(zk_client: KazooClient, make_client) -> None:
    clock = Clock()
    assert NonBlockingLease(zk_client, "/lease", HOUR, identifier="a", utcnow=clock)
    clock.advance(HOUR - datetime.timedelta(seconds=1))
    other = NonBlockingLease(make_client(), "/lease", HOUR, identifier="b", utcnow=clock)
    assert not other and other.obtained is False
    assert holder(zk_client, "/lease")["holder"] == "a"


def test_an_ended_lease_is_taken_over(zk_client: KazooClient, make_client) -> None:
    clock = Clock()
    assert NonBlockingLease(zk_client, "/lease", HOUR, identifier="a", utcnow=clock)
    clock.advance(HOUR)  # the end itself: over
    taken = NonBlockingLease(make_client(), "/lease", 2 * HOUR, identifier="b", utcnow=clock)
    assert taken.obtained
    assert holder(zk_client, "/lease") == {
        "version": 1,
        "holder": "b",
        "end": "2030-01-02T06:04:05",
    }
    assert not NonBlockingLease(zk_client, "/lease", HOUR, identifier="a", utcnow=clock)


def test_the_holder_renews_its_own_lease(zk_client: KazooClient) -> None:
    clock = Clock()
    assert NonBlockingLease(zk_client, "/lease", HOUR, identifier="a", utcnow=clock)
    clock.advance(datetime.timedelta(minutes=30))
    renewed = NonBlockingLease(zk_client, "/lease", HOUR, identifier="a", utcnow=clock)
    assert renewed.obtained
    assert holder(zk_client, "/lease")["end"] == "2030-01-02T04:34:05"
    version = zk_client.exists("/lease/lease_holder").version
    assert version == 1, "renewed in place"


def test_a_holder_node_it_cannot_read_is_left_alone(zk_client: KazooClient) -> None:
    for data in (b"not json", json.dumps({"version": 2, "holder": "x"}).encode()):
        zk_client.create("/odd/lease_holder", data, makepath=True)
        assert not NonBlockingLease(zk_client, "/odd", HOUR, identifier="me", utcnow=Clock())
        assert zk_client.get("/odd/lease_holder")[0] == data
        zk_client.delete("/odd/lease_holder")
    zk_client.create("/odd/lease_holder", b"")
    assert NonBlockingLease(zk_client, "/odd", HOUR, identifier="me", utcnow=Clock())


def test_defaults_hostname_and_naive_utc_clock(zk_client: KazooClient) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    lease = NonBlockingLease(zk_client, "/lease", HOUR)  # filterwarnings=error: no warning
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert lease.obtained
    record = holder(zk_client, "/lease")
    assert record["holder"] == socket.gethostname()
    end = datetime.datetime.strptime(record["end"], "%Y-%m-%dT%H:%M:%S")
    assert before.replace(microsecond=0) + HOUR <= end <= after + HOUR
    now = utcnow()
    assert now.tzinfo is None and before <= now


def test_multi_lease_uses_count_slots(zk_client: KazooClient, make_client) -> None:
    clock = Clock()
    others = [make_client(), make_client()]
    first = MultiNonBlockingLease(zk_client, 2, "/multi", HOUR, identifier="a", utcnow=clock)
    second = MultiNonBlockingLease(others[0], 2, "/multi", HOUR, identifier="b", utcnow=clock)
    third = MultiNonBlockingLease(others[1], 2, "/multi", HOUR, identifier="c", utcnow=clock)
    assert first and second and not third and third.obtained is False
    assert sorted(zk_client.get_children("/multi")) == ["0", "1"]
    assert [holder(zk_client, f"/multi/{slot}")["holder"] for slot in "01"] == ["a", "b"]
    again = MultiNonBlockingLease(others[0], 2, "/multi", HOUR, identifier="b", utcnow=clock)
    assert again, "its own slot is renewed"
    assert holder(zk_client, "/multi/1")["holder"] == "b"
    clock.advance(HOUR)
    assert MultiNonBlockingLease(others[1], 2, "/multi", HOUR, identifier="c", utcnow=clock)
    assert holder(zk_client, "/multi/0")["holder"] == "c", "the first ended slot"


def test_bad_arguments(zk_client: KazooClient) -> None:
    with pytest.raises(TypeError):
        NonBlockingLease(zk_client, "/lease", 3600)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MultiNonBlockingLease(zk_client, "2", "/lease", HOUR)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NonBlockingLease(zk_client, "lease", HOUR)
    assert zk_client.exists("/lease") is None


def test_stopped_or_never_started_client_raises(make_client) -> None:
    stopped = make_client()
    stopped.stop()
    for client in (make_client(start=False), stopped):
        with pytest.raises(ConnectionClosedError):
            NonBlockingLease(client, "/lease", HOUR)
        with pytest.raises(ConnectionClosedError):
            MultiNonBlockingLease(client, 2, "/lease", HOUR)
