"""Queue, LockingQueue and Counter algorithms against an in-memory ZooKeeper that can lose
a reply after applying the request: the cases a real server cannot be made to produce on
demand. No item is lost and no increment is counted twice."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.protocol.states import KazooState, KeeperState, ZnodeStat
from kazoo.recipe._waiting import Deadline, Signal
from kazoo.recipe.counter import Counter
from kazoo.recipe.party import Party
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.retry import KazooRetry

SESSION = 0x77


class FakeZK:
    """Just enough of the client API; ``lose[name] = n`` makes the next ``n`` calls of
    ``name`` apply and then raise ConnectionLoss (the reply was lost)."""

    def __init__(self) -> None:
        self.handler = SequentialThreadingHandler()
        self.nodes: dict[str, list[Any]] = {"/": [b"", 0, 0]}
        self.counters: dict[str, int] = {}
        self.lose: dict[str, int] = {}
        self.state = KazooState.CONNECTED
        self.client_state = KeeperState.CONNECTED
        self.client_id: tuple[int, bytes] | None = (SESSION, b"")

    @property
    def connected(self) -> bool:
        return self.state == KazooState.CONNECTED

    def _reply(self, name: str, result: Any) -> Any:
        if self.lose.get(name):
            self.lose[name] -= 1
            raise ConnectionLoss()
        return result

    def retry(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        return KazooRetry(max_tries=10, delay=0.0, max_jitter=0.0)(func, *args, **kwargs)

    def add_listener(self, listener: Any) -> None:
        pass

    def remove_listener(self, listener: Any) -> None:
        pass

    def _stat(self, path: str) -> ZnodeStat:
        data, version, owner = self.nodes[path]
        kids = len(self._children(path))
        return ZnodeStat(1, 1, 0, 0, version, 0, 0, owner, len(data or b""), kids, 1)

    def _children(self, path: str) -> list[str]:
        base = path.rstrip("/") + "/"
        return [
            p[len(base) :] for p in self.nodes if p.startswith(base) and "/" not in p[len(base) :]
        ]

    def _create(self, path: str, value: bytes, ephemeral: bool, sequence: bool) -> str:
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.nodes:
            raise NoNodeError()
        if sequence:
            seq = self.counters.get(parent, 0)
            self.counters[parent] = seq + 1
            path = f"{path}{seq:010d}"
        if path in self.nodes:
            raise NodeExistsError()
        self.nodes[path] = [value, 0, SESSION if ephemeral else 0]
        return path

    def _delete(self, path: str, version: int = -1) -> bool:
        if path not in self.nodes:
            raise NoNodeError()
        if version not in (-1, self.nodes[path][1]):
            raise BadVersionError()
        del self.nodes[path]
        return True

    def create(self, path, value=b"", acl=None, ephemeral=False, sequence=False, makepath=False):  # type: ignore[no-untyped-def]
        if makepath:
            self.ensure_path(path.rsplit("/", 1)[0])
        return self._reply("create", self._create(path, value, ephemeral, sequence))

    def ensure_path(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self.nodes.setdefault("/" + "/".join(parts[:i]), [b"", 0, 0])
        return True

    def get(self, path: str, watch: Any = None) -> tuple[bytes, ZnodeStat]:
        if path not in self.nodes:
            raise NoNodeError()
        return self.nodes[path][0], self._stat(path)

    def exists(self, path: str, watch: Any = None) -> ZnodeStat | None:
        return self._stat(path) if path in self.nodes else None

    def get_children(self, path: str, watch: Any = None) -> list[str]:
        if path not in self.nodes:
            raise NoNodeError()
        return self._children(path)

    def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        if path not in self.nodes:
            raise NoNodeError()
        if version not in (-1, self.nodes[path][1]):
            raise BadVersionError()
        self.nodes[path][0] = value
        self.nodes[path][1] += 1
        return self._reply("set", self._stat(path))

    def delete(self, path: str, version: int = -1) -> bool:
        return self._reply("delete", self._delete(path, version))

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self)


class FakeTransaction:
    def __init__(self, zk: FakeZK) -> None:
        self.zk, self.ops = zk, []  # type: ignore[var-annotated]

    def create(self, path: str, value: bytes = b"", ephemeral: bool = False, sequence=False):  # type: ignore[no-untyped-def]
        self.ops.append(lambda: self.zk._create(path, value, ephemeral, sequence))

    def delete(self, path: str, version: int = -1) -> None:
        self.ops.append(lambda: self.zk._delete(path, version))

    def check(self, path: str, version: int) -> None:
        def check() -> bool:
            if path not in self.zk.nodes:
                raise NoNodeError()
            return True

        self.ops.append(check)

    def commit(self) -> list[Any]:
        saved = (copy.deepcopy(self.zk.nodes), dict(self.zk.counters))
        results: list[Any] = []
        for i, step in enumerate(self.ops):
            try:
                results.append(step())
            except Exception as exc:  # noqa: BLE001
                self.zk.nodes, self.zk.counters = saved
                rest = len(self.ops) - i - 1
                return [RolledBackError()] * i + [exc] + [RuntimeInconsistency()] * rest
        return self.zk._reply("commit", results)


def test_queue_item_whose_delete_reply_was_lost_is_still_delivered() -> None:
    zk = FakeZK()
    queue = Queue(zk, "/q")
    queue.put(b"a")
    queue.put(b"b")
    zk.lose["delete"] = 1
    assert queue.get() == b"a"
    assert queue.get() == b"b"
    assert queue.get() is None


def test_locking_queue_claim_reply_lost_then_consume_reply_lost() -> None:
    zk = FakeZK()
    queue = LockingQueue(zk, "/lq")
    queue.put(b"item")
    zk.lose["commit"] = 1  # the claim was made, its reply lost
    assert queue.get(timeout=1) == b"item"
    [name] = zk.get_children("/lq/taken")
    assert zk.get(f"/lq/taken/{name}")[0] == queue.id
    zk.lose["commit"] = 1  # the consume was applied, its reply lost
    assert queue.consume() is True
    assert zk.get_children("/lq/entries") == [] and zk.get_children("/lq/taken") == []


def test_locking_queue_claim_on_a_vanished_item_is_removed() -> None:
    zk = FakeZK()
    queue = LockingQueue(zk, "/lq")
    queue.put(b"x")
    [name] = zk.get_children("/lq/entries")
    zk.nodes[f"/lq/taken/{name}"] = [b"someone else", 0, 0x99]
    assert queue.get(timeout=0) is None, "taken by another consumer"
    del zk.nodes[f"/lq/taken/{name}"]
    assert queue.get(timeout=0) == b"x"
    assert queue.release() is True and zk.get_children("/lq/taken") == []


def test_counter_set_reply_lost_counts_once() -> None:
    zk = FakeZK()
    counter = Counter(zk, "/c")
    counter += 3
    zk.lose["set"] = 1
    counter += 4
    assert counter.value == 7
    assert (counter.pre_value, counter.post_value) == (3, 7)


def test_recipes_refuse_a_closed_client_before_any_request() -> None:
    zk = FakeZK()
    zk.client_state = KeeperState.CLOSED
    zk.state = KazooState.LOST
    for call in (Queue(zk, "/q").get, LockingQueue(zk, "/q").get, Party(zk, "/p").join):
        with pytest.raises(ConnectionClosedError):
            call()
    assert list(zk.nodes) == ["/"]


def test_signal_arms_one_watch_per_key() -> None:
    signal = Signal(SequentialThreadingHandler().event_object)
    first = signal.arm("k")
    assert first is not None and signal.arm("k") is None
    assert signal.arm("other") is not None
    signal.clear()
    first("event")
    assert signal.event.is_set()
    assert signal.arm("k") is first, "the same callable once it has fired"
    signal.disarm("k")
    assert signal.arm("k") is first


def test_deadline_is_a_total_budget() -> None:
    assert Deadline(None).left() is None and not Deadline(None).expired()
    deadline = Deadline(0.05)
    assert 0 < deadline.left() <= 0.05  # type: ignore[operator]
    time.sleep(0.06)
    assert deadline.left() == 0 and deadline.expired()
    with pytest.raises(TypeError):
        Deadline("1")  # type: ignore[arg-type]


def test_party_participating_follows_the_session() -> None:
    zk = FakeZK()
    party = Party(zk, "/p", "me")
    party.join()
    assert party.participating
    zk.state, zk.client_id = KazooState.SUSPENDED, None
    assert party.participating, "SUSPENDED: the node may still be there"
    zk.state, zk.client_id = KazooState.CONNECTED, (SESSION + 1, b"")
    assert not party.participating, "a new session: the node went with the old one"
