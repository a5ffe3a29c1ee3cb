"""A short tour of kazoo against a running ZooKeeper.

    python examples/tour.py 127.0.0.1:2181
    KAZOO_TOUR_HOSTS=127.0.0.1:2181 python examples/tour.py

``make tour`` starts a throwaway local ZooKeeper and runs this script against it.
Every step says what it does and what came back; the tour exits non-zero if
ZooKeeper answers anything unexpected.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid

from kazoo.client import KazooClient, KazooState, WatchedEvent
from kazoo.exceptions import BadVersionError, RolledBackError, RuntimeInconsistency
from kazoo.protocol.states import AddWatchMode, WatcherType

WATCH_TIMEOUT = 10.0
_step = 0


def step(text: str) -> None:
    global _step
    _step += 1
    print(f"\n{_step}. {text}")


def show(text: str) -> None:
    print(f"   {text}")


def check(condition: bool, text: str) -> None:
    if not condition:
        raise SystemExit(f"tour: unexpected result: {text}")


def describe(result: object) -> str:
    if isinstance(result, Exception):
        return f"{type(result).__name__}() (an exception instance, not raised)"
    if type(result).__name__ == "ZnodeStat":
        return f"ZnodeStat(version={result.version}, ...)"  # type: ignore[attr-defined]
    return repr(result)


def tour(zk: KazooClient) -> None:
    root = f"/kazoo-tour-{uuid.uuid4().hex[:8]}"
    config = f"{root}/config"
    greeting = f"{config}/greeting"

    step(f"ensure_path({config!r}) creates the node and any missing parents")
    show(f"-> {zk.ensure_path(config)!r}")
    show(f"calling it again is harmless -> {zk.ensure_path(config)!r}")

    step(f"create({greeting!r}, b'hello')")
    show(f"-> {zk.create(greeting, b'hello')!r}")

    step("get() returns the data and a ZnodeStat")
    data, stat = zk.get(greeting)
    show(f"-> data={data!r}, version={stat.version}, created zxid={stat.czxid:#x}")
    check(data == b"hello", "get() after create()")

    step("a watch: get(path, watch=fn), then set() fires it once")
    fired = threading.Event()
    events: list[WatchedEvent] = []

    def on_change(event: WatchedEvent) -> None:
        events.append(event)
        fired.set()

    zk.get(greeting, watch=on_change)
    stat = zk.set(greeting, b"hello, world")
    show(f"set() -> version {stat.version}")
    check(fired.wait(WATCH_TIMEOUT), f"watch did not fire within {WATCH_TIMEOUT} s")
    event = events[0]
    show(f"watch fired: type={event.type}, state={event.state}, path={event.path!r}")

    step(f"get_children({config!r})")
    show(f"-> {zk.get_children(config)!r}")

    step("a transaction: create + set_data + check, applied atomically")
    transaction = zk.transaction()
    transaction.create(f"{config}/from-transaction", b"tx")
    transaction.set_data(greeting, b"set in a transaction")
    transaction.check(config, 0)
    results = transaction.commit()
    for result in results:
        show(f"-> {describe(result)}")
    check(not any(isinstance(r, Exception) for r in results), "transaction failed")
    show(f"greeting is now {zk.get(greeting)[0]!r}")

    step("a failing transaction: set_data with a stale version rolls back everything")
    stale = stat.version  # the greeting has been changed since
    transaction = zk.transaction()
    transaction.create(f"{config}/never-created", b"")
    transaction.set_data(greeting, b"stale write", version=stale)
    transaction.check(config, 0)
    results = transaction.commit()
    for result in results:
        show(f"-> {describe(result)}")
    check(isinstance(results[0], RolledBackError), "first result is RolledBackError")
    check(isinstance(results[1], BadVersionError), "second result is BadVersionError")
    check(isinstance(results[2], RuntimeInconsistency), "third result is RuntimeInconsistency")
    check(zk.exists(f"{config}/never-created") is None, "rolled-back create left a node")
    show("nothing was applied: exists('.../never-created') -> None")

    step("a recursive watch: add_watch(path, fn, PERSISTENT_RECURSIVE) sees the whole subtree")
    seen: list[WatchedEvent] = []
    three = threading.Event()

    def on_tree(event: WatchedEvent) -> None:
        seen.append(event)
        if len(seen) >= 3:
            three.set()

    zk.add_watch(config, on_tree, AddWatchMode.PERSISTENT_RECURSIVE)
    zk.create(f"{config}/feature/x", b"1", makepath=True)
    zk.set(f"{config}/feature/x", b"2")
    check(three.wait(WATCH_TIMEOUT), "recursive watch did not fire three times")
    for event in seen[:3]:
        show(f"watch fired: type={event.type}, path={event.path!r}")
    show("it stays armed (no re-registration); remove_all_watches() ends it")
    zk.remove_all_watches(config, WatcherType.ANY)

    recipes(zk, root)

    step(f"delete({greeting!r}), then delete({root!r}, recursive=True)")
    show(f"-> {zk.delete(greeting)!r}")
    show(f"exists() -> {zk.exists(greeting)!r}")
    show(f"-> {zk.delete(root, recursive=True)!r}")
    check(zk.exists(root) is None, "recursive delete")


def recipes(zk: KazooClient, root: str) -> None:
    step("a Lock: `with zk.Lock(path, 'me') as lock:` holds it; a rival cannot take it meanwhile")
    lock = zk.Lock(f"{root}/lock", "tour")
    with lock:
        show(f"held: is_acquired={lock.is_acquired}, fencing token {lock.fencing_token:#x}")
        other = zk.Lock(f"{root}/lock", "rival")
        check(other.acquire(blocking=False) is False, "a second contender got the lock")
        show(f"a rival's non-blocking acquire -> False; contenders {lock.contenders()!r}")
    check(not lock.is_acquired, "the lock was not released")
    show(f"released: is_acquired={lock.is_acquired}")

    step("an Election: run(func) calls func once this contender is the leader")
    election = zk.Election(f"{root}/election", "tour-leader")
    led: list[bool] = []
    election.run(lambda: led.append(election.is_leader))
    check(led == [True], "func ran without leadership")
    show(f"func ran as leader (is_leader inside: {led[0]}); the leadership ends when it returns")

    step("a LockingQueue: put items, get() claims one, consume() removes it")
    queue = zk.LockingQueue(f"{root}/queue")
    queue.put_all([b"first", b"second"])
    queue.put(b"urgent", priority=1)
    show(f"three items put; len(queue) -> {len(queue)}")
    taken = []
    for _ in range(3):
        item = queue.get(timeout=WATCH_TIMEOUT)
        taken.append(item)
        check(queue.consume(), "consume() failed")
    show(f"taken in order: {taken!r}")
    check(taken == [b"urgent", b"first", b"second"], "queue order")


def gevent_section(hosts: str) -> None:
    from tour_gevent import tour_gevent

    tour_gevent(hosts, step, show, check)


def asyncio_section(hosts: str) -> None:
    import asyncio

    from tour_asyncio import tour_asyncio

    asyncio.run(tour_asyncio(hosts, step, show, check))


def main(argv: list[str]) -> int:
    hosts = argv[1] if len(argv) > 1 else os.environ.get("KAZOO_TOUR_HOSTS")
    if not hosts:
        print("usage: python examples/tour.py HOSTS   (or set KAZOO_TOUR_HOSTS)", file=sys.stderr)
        return 2

    states: list[KazooState] = []
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.add_listener(states.append)

    step(f"connect: KazooClient(hosts={hosts!r}).start()")
    zk.start(timeout=15)
    session_id = zk.client_id[0] if zk.client_id else 0
    show(f"connected: state={zk.state}, session id {session_id:#x}")
    try:
        tour(zk)
    finally:
        step("stop() ends the session, close() frees the client's resources")
        zk.stop()
        zk.close()
        show(f"state={zk.state}; listener saw {[str(s) for s in states]}")
    gevent_section(hosts)
    asyncio_section(hosts)
    print("\nThe tour is over.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
