"""The gevent part of the tour: one client on ``SequentialGeventHandler``, many greenlets.

``tour_gevent(hosts, step, show, check)`` is called by the tour with its printing helpers
(``step(text)`` numbers a step, ``show(text)`` prints a result, ``check(condition, text)``
ends the tour if ZooKeeper answered something unexpected). Nothing is monkey-patched: the
client waits only through gevent, so a greenlet waiting for ZooKeeper lets the others run.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

WAIT = 10.0


def tour_gevent(
    hosts: str,
    step: Callable[[str], None],
    show: Callable[[str], None],
    check: Callable[[bool, str], None],
) -> None:
    try:
        import gevent
        import gevent.event
    except ImportError:
        step("gevent: not installed (pip install 'kazoo[gevent]'), so this part is skipped")
        return
    from kazoo.client import KazooClient
    from kazoo.handlers.gevent import SequentialGeventHandler

    ticks: list[float] = []
    ticking = [True]

    def ticker() -> None:  # shows that the hub keeps running
        while ticking[0]:
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    step("gevent: KazooClient(hosts, handler=SequentialGeventHandler()).start()")
    zk = KazooClient(hosts=hosts, handler=SequentialGeventHandler())
    ticker_greenlet = gevent.spawn(ticker)
    zk.start(timeout=15)
    show(f"connected: state={zk.state}; a ticker greenlet runs alongside, every 10 ms")
    try:
        _greenlets_at_work(zk, gevent, step, show, check)
    finally:
        zk.stop()
        zk.close()
        ticking[0] = False
        ticker_greenlet.join(1.0)
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
    step("meanwhile the ticker greenlet never stopped: no call blocked the hub")
    show(f"{len(ticks)} ticks, at most {max(gaps, default=0.0) * 1000:.0f} ms apart")
    check(max(gaps, default=0.0) < 0.5, "the gevent hub stood still")


def _greenlets_at_work(
    zk: Any,
    gevent: Any,
    step: Callable[[str], None],
    show: Callable[[str], None],
    check: Callable[[bool, str], None],
) -> None:
    root = f"/kazoo-tour-gevent-{uuid.uuid4().hex[:8]}"
    zk.ensure_path(root)
    names = [f"item-{i:02d}" for i in range(20)]

    step(f"20 greenlets each create a node under {root!r} at the same time")
    jobs = [gevent.spawn(zk.create, f"{root}/{name}", name.encode()) for name in names]
    gevent.joinall(jobs, timeout=WAIT, raise_error=True)
    children = sorted(zk.get_children(root))
    show(f"get_children() -> {len(children)} nodes: {children[0]!r} ... {children[-1]!r}")
    check(children == names, "the greenlets' creates")

    step("20 more greenlets read them back concurrently with get()")
    jobs = [gevent.spawn(zk.get, f"{root}/{name}") for name in names]
    gevent.joinall(jobs, timeout=WAIT, raise_error=True)
    values = [job.value[0] for job in jobs]
    show(f"-> {values[0]!r}, {values[1]!r}, ... {values[-1]!r}")
    check(values == [name.encode() for name in names], "the greenlets' gets")

    step("a watch: one greenlet waits for it, another one changes the node")
    fired = gevent.event.AsyncResult()
    zk.get(f"{root}/{names[0]}", watch=fired.set)
    gevent.spawn(zk.set, f"{root}/{names[0]}", b"changed")
    event = fired.get(timeout=WAIT)
    show(f"watch fired: type={event.type}, path={event.path!r}")
    check(event.path == f"{root}/{names[0]}", "the watch's path")

    step(f"delete({root!r}, recursive=True)")
    show(f"-> {zk.delete(root, recursive=True)!r}")
    check(zk.exists(root) is None, "recursive delete")
