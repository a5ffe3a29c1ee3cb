"""SetPartitioner against real ZooKeeper (API §2.10, §4): layout, splitting a set among
members, joins and leaves (RELEASE, re-allocation), session loss (FAILURE), a dropped
connection (no RELEASE), blocked item locks, finish."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.lock import Lock
from kazoo.recipe.partitioner import PartitionState, SetPartitioner, default_partition
from kazoo.testing import drop_connection, expire_session
from tests.recipes.helpers import WAIT, wait_children

pytestmark = pytest.mark.integration

ALLOCATING, ACQUIRED = PartitionState.ALLOCATING, PartitionState.ACQUIRED
RELEASE, FAILURE = PartitionState.RELEASE, PartitionState.FAILURE
BOUNDARY = 0.2  # time_boundary: membership stable this long before allocating


class History(threading.Event):
    """A ``state_change_event`` that also records the state each time it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.partitioner: SetPartitioner | None = None
        self.states: list[str] = []

    def set(self) -> None:
        if self.partitioner is not None:
            self.states.append(self.partitioner.state)
        super().set()


def partitioner(client: KazooClient, items: Any, name: str, **options: Any) -> SetPartitioner:
    """A partitioner at ``/part`` whose ``state_change_event`` is a :class:`History`."""
    history = History()
    options.setdefault("time_boundary", BOUNDARY)
    made = SetPartitioner(
        client, "/part", items, identifier=name, state_change_event=history, **options
    )
    history.partitioner = made  # before its first change: that waits for time_boundary
    return made


def wait_state(part: SetPartitioner, *states: str, timeout: float = WAIT) -> str:
    """Wait on ``state_change_event`` until the state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while part.state not in states:
        left = deadline - time.monotonic()
        assert left > 0 and part.state_change_event.wait(left), f"state stayed {part.state}"
        part.state_change_event.clear()
    return part.state


def settle(parts: list[SetPartitioner], timeout: float = WAIT) -> None:
    """Drive the members to one allocation: whoever is in RELEASE calls ``release_set()``,
    until all are ACQUIRED at once."""
    deadline = time.monotonic() + timeout
    while not all(part.acquired for part in parts):
        for part in parts:
            if wait_state(part, ACQUIRED, RELEASE, timeout=deadline - time.monotonic()) == RELEASE:
                part.release_set()


def lock_owners(client: KazooClient, items: Any) -> dict[str, list[str]]:
    """``str(item)`` → the identifiers in the lock nodes at ``/part/locks/<item>``."""
    owners = {}
    for item in items:
        path = f"/part/locks/{item}"
        names = client.get_children(path) if client.exists(path) else []
        owners[str(item)] = [client.get(f"{path}/{name}")[0].decode() for name in names]
    return owners


def check_split(client: KazooClient, parts: dict[str, SetPartitioner], items: list[Any]) -> None:
    """``parts`` (identifier → member) own ``items`` disjointly and completely, as the
    default partition says, and hold the locks of what they own."""
    names = list(parts)
    owned = [sorted(part) for part in parts.values()]
    assert sorted(item for mine in owned for item in mine) == sorted(items)
    assert owned == [default_partition(name, names, items) for name in names]
    expected = {str(item): [name] for name, mine in zip(names, owned) for item in mine}
    assert lock_owners(client, items) == expected


def test_default_partition() -> None:
    assert default_partition("b", ["c", "a", "b"], [5, 1, 4, 2, 3]) == [2, 5]
    assert default_partition("a", ["a"], ["y", "x"]) == ["x", "y"]
    assert default_partition("z", ["a", "b"], [1, 2]) == [], "not a member: nothing"


def test_one_member_takes_the_whole_set(zk_client: KazooClient, make_client) -> None:
    part = partitioner(make_client(), ["b", "a", "c"], "solo")
    assert part.allocating and part.state == ALLOCATING and part.state_id == 0
    assert list(part) == []
    part.wait_for_acquire(timeout=WAIT)
    assert part.acquired and not (part.allocating or part.release or part.failed)
    assert sorted(part) == ["a", "b", "c"]
    assert part.state_id == 1 and part.state_change_event.states == [ACQUIRED]
    (member,) = zk_client.get_children("/part/party")
    assert member.endswith("-solo") and len(member) == 32 + len("-solo")
    assert lock_owners(zk_client, "abc") == {"a": ["solo"], "b": ["solo"], "c": ["solo"]}
    part.finish()
    assert part.failed and part.state_change_event.states == [ACQUIRED, FAILURE]
    assert list(part) == []
    assert zk_client.get_children("/part/party") == []
    assert lock_owners(zk_client, "abc") == {"a": [], "b": [], "c": []}


def test_members_split_the_set_disjointly_and_completely(
    zk_client: KazooClient, make_client
) -> None:
    items = list(range(10))
    clients = [make_client() for _ in range(3)]
    parts = {f"m{i}": partitioner(client, items, f"m{i}") for i, client in enumerate(clients)}
    settle(list(parts.values()))
    check_split(zk_client, parts, items)
    assert sorted(parts["m0"]) == [0, 3, 6, 9]
    for part in parts.values():
        part.finish()


def test_a_member_joining_forces_release_and_reallocation(
    zk_client: KazooClient, make_client
) -> None:
    items = ["a", "b", "c", "d"]
    first = partitioner(make_client(), items, "m1")
    assert wait_state(first, ACQUIRED) == ACQUIRED
    second = partitioner(make_client(), items, "m2")
    assert wait_state(first, RELEASE) == RELEASE and first.release
    assert sorted(first) == items, "RELEASE keeps the locks until release_set()"
    assert lock_owners(zk_client, items) == {item: ["m1"] for item in items}
    assert second.allocating
    first.release_set()
    settle([first, second])
    check_split(zk_client, {"m1": first, "m2": second}, items)
    assert first.state_change_event.states == [ACQUIRED, RELEASE, ALLOCATING, ACQUIRED]
    for part in (first, second):
        part.finish()


def test_a_member_leaving_forces_release_and_reallocation(
    zk_client: KazooClient, make_client
) -> None:
    items = ["a", "b", "c"]
    parts = [partitioner(make_client(), items, f"m{i}") for i in range(3)]
    settle(parts)
    leaving = parts.pop(1)
    leaving.finish()
    assert leaving.failed and list(leaving) == []
    for part in parts:
        assert wait_state(part, RELEASE) == RELEASE
        part.release_set()
    settle(parts)
    check_split(zk_client, {"m0": parts[0], "m2": parts[1]}, items)
    assert sorted(parts[0]) == ["a", "c"]
    for part in parts:
        part.finish()


def test_session_loss_ends_in_failure(zk_client: KazooClient, make_client) -> None:
    items = ["a", "b"]
    lost_client = make_client()
    lost, other = partitioner(lost_client, items, "m1"), partitioner(make_client(), items, "m2")
    settle([lost, other])
    mark = len(lost.state_change_event.states)
    expire_session(lost_client)
    assert wait_state(lost, FAILURE) == FAILURE and lost.failed
    # The client may still be on the old session when the server's closing of it deletes
    # the member node; that change is a RELEASE just before the LOST.
    assert lost.state_change_event.states[mark:] in ([FAILURE], [RELEASE, FAILURE])
    assert list(lost) == []
    assert wait_state(other, RELEASE) == RELEASE, "its member node went with the session"
    other.release_set()
    assert wait_state(other, ACQUIRED) == ACQUIRED
    assert sorted(other) == items
    assert lock_owners(zk_client, items) == {"a": ["m2"], "b": ["m2"]}
    again = partitioner(lost_client, items, "m1")  # a new partitioner on the new session
    assert wait_state(other, RELEASE) == RELEASE
    other.release_set()
    settle([again, other])
    check_split(zk_client, {"m1": again, "m2": other}, items)
    assert lost.failed, "FAILURE is final"
    for part in (again, other):
        part.finish()


def test_a_dropped_connection_alone_does_not_force_release(
    zk_client: KazooClient, make_client
) -> None:
    client = make_client()
    part = partitioner(client, ["a", "b"], "m1")
    assert wait_state(part, ACQUIRED) == ACQUIRED
    session = client.client_id[0]
    nodes = {item: zk_client.get_children(f"/part/locks/{item}") for item in "ab"}
    drop_connection(client)  # SUSPENDED, then CONNECTED on the same session
    assert client.client_id[0] == session and part.acquired
    control = partitioner(make_client(), ["a", "b"], "m2")  # a real membership change
    assert wait_state(part, RELEASE) == RELEASE
    assert part.state_change_event.states == [ACQUIRED, RELEASE], "nothing from the drop"
    for item in "ab":
        assert zk_client.get_children(f"/part/locks/{item}") == nodes[item], "locks kept"
        (name,) = nodes[item]
        assert zk_client.exists(f"/part/locks/{item}/{name}").ephemeralOwner == session
    for each in (part, control):
        each.finish()


def test_a_blocked_item_lock_rechecks_the_membership(zk_client: KazooClient, make_client) -> None:
    outsider = Lock(zk_client, "/part/locks/a", "outsider")
    assert outsider.acquire()
    slow = partitioner(make_client(), ["a", "b"], "p2", max_reaction_time=0.3)
    wait_children(zk_client, "/part/locks/a", lambda names: len(names) == 2)  # slow waits on a
    assert slow.allocating
    started = time.monotonic()
    slow.wait_for_acquire(timeout=0.3)
    assert slow.allocating and time.monotonic() - started >= 0.3
    fast = partitioner(make_client(), ["a", "b"], "p1")  # sorted first: it gets "a"
    assert wait_state(slow, ACQUIRED) == ACQUIRED, "slow gave up on a and took b"
    assert list(slow) == ["b"]
    assert fast.allocating, "blocked by the outsider"
    outsider.release()
    assert wait_state(fast, ACQUIRED) == ACQUIRED
    assert list(fast) == ["a"]
    check_split(zk_client, {"p1": fast, "p2": slow}, ["a", "b"])
    for part in (fast, slow):
        part.finish()


def test_finish_while_allocating_gives_everything_back(zk_client: KazooClient, make_client) -> None:
    outsider = Lock(zk_client, "/part/locks/b", "outsider")
    assert outsider.acquire()
    part = partitioner(make_client(), ["a", "b"], "m1")
    wait_children(zk_client, "/part/locks/b", lambda names: len(names) == 2)
    assert part.allocating
    part.finish()
    assert part.failed and part.state_change_event.states == [FAILURE]
    assert lock_owners(zk_client, "ab") == {"a": [], "b": ["outsider"]}
    assert zk_client.get_children("/part/party") == []
    part.release_set()  # nothing to do after FAILURE
    assert part.failed
    outsider.release()


def test_custom_partition_func_and_default_identifier(zk_client: KazooClient, make_client) -> None:
    calls: list[tuple[Any, ...]] = []

    def only_x(identifier: str, members: list[str], items: Any) -> list[str]:
        calls.append((identifier, sorted(members), list(items)))
        return [item for item in items if item.startswith("x")]

    items = ("x1", "y1", "x2")
    part = SetPartitioner(
        make_client(), "/part", items, partition_func=only_x, time_boundary=BOUNDARY
    )
    part.wait_for_acquire(timeout=WAIT)
    assert part.acquired and sorted(part) == ["x1", "x2"]
    identifier = f"{socket.getfqdn()}-{os.getpid()}"
    assert calls == [(identifier, [identifier], ["x1", "y1", "x2"])]
    (member,) = zk_client.get_children("/part/party")
    assert member.endswith("-" + identifier)
    assert sorted(zk_client.get_children("/part/locks")) == ["x1", "x2"]
    part.finish()


def test_bad_arguments_and_stopped_clients(zk_client: KazooClient, make_client) -> None:
    with pytest.raises(ValueError):
        SetPartitioner(zk_client, "/part", ["ok", "not/ok"])
    with pytest.raises(ValueError):
        SetPartitioner(zk_client, "part", ["a"])
    with pytest.raises(TypeError):
        SetPartitioner(zk_client, "/part", ["a"], time_boundary="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SetPartitioner(zk_client, "/part", ["a"], max_reaction_time=-1)
    assert zk_client.exists("/part") is None
    stopped = make_client()
    stopped.stop()
    for client in (make_client(start=False), stopped):
        with pytest.raises(ConnectionClosedError):
            SetPartitioner(client, "/part", ["a"])
