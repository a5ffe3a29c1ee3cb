"""One benchmark scenario for one flavour, in its own process; prints one JSON object.

    python -m benchmarks.worker FLAVOUR SCENARIO HOSTS

FLAVOUR is ``raw`` (the ceiling in ``_raw.py``), ``threading``, ``gevent``, ``eventlet`` or
``asyncio``. ``cpu_s`` is the user+system time of this process during the measured part
only; the server runs in another process.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import threading
import time
import uuid
from typing import Any, Callable

from benchmarks import _raw

SYNC_OPS = 1000
WARMUP = 100
PIPE_OPS = 20000
CREATES = 10000
BIG = 512 * 1024
IDLE_CLIENTS = 100
WATCH_ROUNDS = 300
LOCK_CYCLES = 1000
CONTENDERS = 4


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
    }


class Measure:
    """Wall and CPU time of a block of ``ops`` operations."""

    def __init__(self, ops: int) -> None:
        self.ops = ops

    def __enter__(self) -> Measure:
        self.cpu0, self.t0 = cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu() - self.cpu0

    def result(self) -> dict[str, float]:
        return {
            "ops_s": self.ops / self.wall,
            "cpu_us_op": self.cpu / self.ops * 1e6,
        }


# -- raw ceiling ----------------------------------------------------------------------------


def raw_scenarios(hosts: str, root: str) -> dict[str, Callable[[], dict[str, float]]]:
    host, port = hosts.split(",")[0].rsplit(":", 1)

    def client() -> _raw.RawClient:
        return _raw.RawClient(host, int(port))

    def sync(make: Callable[[int], list[bytes]]) -> dict[str, float]:
        c = client()
        try:
            for i in range(WARMUP):
                for request in make(i):
                    c.call(request)
            samples = []
            cpu0 = cpu()
            for i in range(SYNC_OPS):
                start = time.perf_counter()
                for request in make(i):
                    c.call(request)
                samples.append(time.perf_counter() - start)
            out = percentiles(samples)
            out["cpu_us_op"] = (cpu() - cpu0) / SYNC_OPS * 1e6
            return out
        finally:
            c.close()

    def setup(c: _raw.RawClient) -> None:
        c.call(_raw.create(c.next_xid(), root, b"x" * 32))

    def with_root(fn: Callable[[_raw.RawClient], dict[str, float]]) -> dict[str, float]:
        c = client()
        try:
            setup(c)
            return fn(c)
        finally:
            c.close()

    def pipe(k: int) -> dict[str, float]:
        def run(c: _raw.RawClient) -> dict[str, float]:
            reqs = [_raw.get_data(c.next_xid(), root) for _ in range(PIPE_OPS)]
            c.pipeline(reqs[:WARMUP], k)
            with Measure(PIPE_OPS) as m:
                c.pipeline(reqs, k)
            return m.result()

        return with_root(run)

    def creates() -> dict[str, float]:
        def run(c: _raw.RawClient) -> dict[str, float]:
            creates = [_raw.create(c.next_xid(), f"{root}/n{i}") for i in range(CREATES)]
            deletes = [_raw.delete(c.next_xid(), f"{root}/n{i}") for i in range(CREATES)]
            with Measure(CREATES) as m:
                c.pipeline(creates, 256)
            with Measure(CREATES) as d:
                c.pipeline(deletes, 256)
            out = m.result()
            out["delete_ops_s"] = d.result()["ops_s"]
            return out

        return with_root(run)

    def connect() -> dict[str, float]:
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            c = client()
            samples.append(time.perf_counter() - start)
            c.close()
        return {"connect_ms": statistics.median(samples) * 1e3}

    def watch() -> dict[str, float]:
        """The floor of a DataWatch: set, wait for the notification, read with a new watch."""

        def run(c: _raw.RawClient) -> dict[str, float]:
            c.call(_raw.get_data(c.next_xid(), root, watch=True))
            samples = []
            for i in range(WATCH_ROUNDS):
                start = time.perf_counter()
                c.sock.sendall(_raw.set_data(c.next_xid(), root, b"%d" % i))
                c.until_event()
                c.call(_raw.get_data(c.next_xid(), root, watch=True))  # skips the set's reply
                samples.append(time.perf_counter() - start)
            return {"p50_us": statistics.median(samples) * 1e6}

        return with_root(run)

    def lock() -> dict[str, float]:
        """The floor of an uncontended lock cycle: create2 and the children listing sent back
        to back (one round trip), then delete."""

        def run(c: _raw.RawClient) -> dict[str, float]:
            parent = f"{root}/lock"
            c.call(_raw.create(c.next_xid(), parent))
            prefix = f"{parent}/x-lock-"

            def cycle() -> None:
                create = _raw.create2(c.next_xid(), prefix, b"bench", _raw.EPHEMERAL_SEQUENTIAL)
                c.sock.sendall(create + _raw.get_children(c.next_xid(), parent))
                _xid, _err, body = c.reply()
                size = _raw._INT.unpack_from(body)[0]
                c.reply()  # the listing
                c.call(_raw.delete(c.next_xid(), body[4 : 4 + size].decode()))

            for _ in range(WARMUP // 10):
                cycle()
            with Measure(LOCK_CYCLES) as m:
                for _ in range(LOCK_CYCLES):
                    cycle()
            out = m.result()
            return {"cycles_s": out["ops_s"], "cpu_us_op": out["cpu_us_op"]}

        return with_root(run)

    def big() -> dict[str, float]:
        def run(c: _raw.RawClient) -> dict[str, float]:
            value = os.urandom(BIG)
            c.call(_raw.set_data(c.next_xid(), root, value))
            rounds = 40
            start = time.perf_counter()
            for _ in range(rounds):
                c.call(_raw.get_data(c.next_xid(), root))
            got = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(rounds):
                c.call(_raw.set_data(c.next_xid(), root, value))
            put = time.perf_counter() - start
            mib = BIG * rounds / (1 << 20)
            return {"get_mib_s": mib / got, "set_mib_s": mib / put}

        return with_root(run)

    return {
        "watch_latency": watch,
        "lock_uncontended": lock,
        "big_value": big,
        "sync_get": lambda: with_root(
            lambda c: sync(lambda i: [_raw.get_data(c.next_xid(), root)])
        ),
        "sync_set": lambda: with_root(
            lambda c: sync(lambda i: [_raw.set_data(c.next_xid(), root, b"y" * 32)])
        ),
        "sync_create_delete": lambda: with_root(
            lambda c: sync(
                lambda i: [
                    _raw.create(c.next_xid(), f"{root}/c{i}"),
                    _raw.delete(c.next_xid(), f"{root}/c{i}"),
                ]
            )
        ),
        "pipe_get_1": lambda: pipe(1),
        "pipe_get_16": lambda: pipe(16),
        "pipe_get_256": lambda: pipe(256),
        "creates_256": creates,
        "connect": connect,
    }


def main(argv: list[str]) -> int:
    flavour, scenario, hosts = argv[1:4]
    root = f"/bench-{uuid.uuid4().hex[:12]}"
    if flavour == "raw":
        table = raw_scenarios(hosts, root)
    else:
        from benchmarks import _kazoo_scenarios

        table = _kazoo_scenarios.scenarios(flavour, hosts, root)
    if scenario not in table:
        print(json.dumps({"flavour": flavour, "scenario": scenario, "skipped": True}))
        return 0
    result: dict[str, Any] = dict(table[scenario]())
    result.update(flavour=flavour, scenario=scenario, pid=os.getpid())
    result["threads_end"] = threading.active_count()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
