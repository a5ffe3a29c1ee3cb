"""The benchmark scenarios for kazoo's own clients (blocking handlers and asyncio)."""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections import deque
from typing import Any, Callable

from benchmarks.worker import (
    BIG,
    CONTENDERS,
    CREATES,
    IDLE_CLIENTS,
    LOCK_CYCLES,
    PIPE_OPS,
    SYNC_OPS,
    WARMUP,
    WATCH_ROUNDS,
    Measure,
    cpu,
    percentiles,
)

Table = dict[str, Callable[[], dict[str, float]]]


def make_handler(flavour: str) -> Any:
    if flavour == "threading":
        from kazoo.handlers.threading import SequentialThreadingHandler

        return SequentialThreadingHandler()
    if flavour == "gevent":
        from kazoo.handlers.gevent import SequentialGeventHandler  # type: ignore[import-not-found]

        return SequentialGeventHandler()
    if flavour == "eventlet":
        from kazoo.handlers.eventlet import (  # type: ignore[import-not-found]
            SequentialEventletHandler,
        )

        return SequentialEventletHandler()
    raise ValueError(f"unknown flavour {flavour!r}")


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scenarios(flavour: str, hosts: str, root: str) -> Table:
    if flavour == "asyncio":
        from benchmarks import _aio_scenarios

        return _aio_scenarios.scenarios(hosts, root)
    from kazoo.client import KazooClient

    def client() -> KazooClient:
        zk = KazooClient(hosts, handler=make_handler(flavour), timeout=10.0)
        zk.start(timeout=15)
        return zk

    def with_client(fn: Callable[[KazooClient], dict[str, float]]) -> dict[str, float]:
        zk = client()
        try:
            zk.create(root, b"x" * 32)
            return fn(zk)
        finally:
            zk.stop()
            zk.close()

    def sync(step: Callable[[KazooClient, int], Any]) -> Callable[[], dict[str, float]]:
        def run(zk: KazooClient) -> dict[str, float]:
            for i in range(WARMUP):
                step(zk, i)
            samples = []
            cpu0 = cpu()
            for i in range(SYNC_OPS):
                start = time.perf_counter()
                step(zk, i)
                samples.append(time.perf_counter() - start)
            out = percentiles(samples)
            out["cpu_us_op"] = (cpu() - cpu0) / SYNC_OPS * 1e6
            return out

        return lambda: with_client(run)

    def create_delete(zk: KazooClient, i: int) -> None:
        zk.create(f"{root}/c{i}")
        zk.delete(f"{root}/c{i}")

    def window(zk: KazooClient, submit: Callable[[int], Any], total: int, k: int) -> None:
        """Keep ``k`` requests in flight: wait for the oldest before sending the next."""
        in_flight: deque[Any] = deque()
        for i in range(total):
            if len(in_flight) >= k:
                in_flight.popleft().get()
            in_flight.append(submit(i))
        while in_flight:
            in_flight.popleft().get()

    def pipe(k: int) -> Callable[[], dict[str, float]]:
        def run(zk: KazooClient) -> dict[str, float]:
            window(zk, lambda i: zk.get_async(root), WARMUP, k)
            with Measure(PIPE_OPS) as m:
                window(zk, lambda i: zk.get_async(root), PIPE_OPS, k)
            return m.result()

        return lambda: with_client(run)

    def creates(zk: KazooClient) -> dict[str, float]:
        with Measure(CREATES) as m:
            window(zk, lambda i: zk.create_async(f"{root}/n{i}"), CREATES, 256)
        with Measure(CREATES) as d:
            window(zk, lambda i: zk.delete_async(f"{root}/n{i}"), CREATES, 256)
        out = m.result()
        out["delete_ops_s"] = d.result()["ops_s"]
        return out

    def big(zk: KazooClient) -> dict[str, float]:
        value = os.urandom(BIG)
        zk.set(root, value)
        rounds = 40
        start = time.perf_counter()
        for _ in range(rounds):
            zk.get(root)
        got = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(rounds):
            zk.set(root, value)
        put = time.perf_counter() - start
        mib = BIG * rounds / (1 << 20)
        return {"get_mib_s": mib / got, "set_mib_s": mib / put}

    def watch(zk: KazooClient) -> dict[str, float]:
        """From just before ``set()`` to the DataWatch callback holding the new data."""
        fired = zk.handler.event_object()
        seen: list[tuple[bytes, float]] = []

        def on_change(data: bytes | None, stat: Any) -> None:
            seen.append((data or b"", time.perf_counter()))
            fired.set()

        zk.DataWatch(root, on_change)
        if not fired.wait(10):
            raise RuntimeError("the DataWatch never called back")
        samples = []
        for i in range(WATCH_ROUNDS):
            value = b"%d" % i
            fired.clear()
            start = time.perf_counter()
            zk.set(root, value)
            while seen[-1][0] != value:
                if not fired.wait(10):
                    raise RuntimeError("the DataWatch missed a change")
                fired.clear()
            samples.append(seen[-1][1] - start)
        return {"p50_us": statistics.median(samples) * 1e6}

    def lock_cycles(zk: KazooClient) -> dict[str, float]:
        """Acquire and release one uncontended Lock, for LOCK_CYCLES cycles."""
        lock = zk.Lock(f"{root}/lock", "bench")
        for _ in range(WARMUP // 10):
            lock.acquire()
            lock.release()
        with Measure(LOCK_CYCLES) as m:
            for _ in range(LOCK_CYCLES):
                lock.acquire()
                lock.release()
        out = m.result()
        return {"cycles_s": out["ops_s"], "cpu_us_op": out["cpu_us_op"]}

    def lock_contended(zk: KazooClient) -> dict[str, float]:
        """Four clients (one thread or greenlet each) share one Lock; total cycles/s."""
        others = [client() for _ in range(CONTENDERS - 1)]
        clients = [zk, *others]
        per_client = LOCK_CYCLES // CONTENDERS
        path = f"{root}/contended"
        failures: list[BaseException] = []
        holders = [0]

        def contend(member: KazooClient, done: Any) -> None:
            try:
                lock = member.Lock(path, "bench")
                for _ in range(per_client):
                    with lock:
                        holders[0] += 1
                        if holders[0] != 1:
                            raise AssertionError("two holders at once")
                        holders[0] -= 1
            except BaseException as exc:  # reported after the run
                failures.append(exc)
            finally:
                done.set()

        try:
            dones = [zk.handler.event_object() for _ in clients]
            with Measure(per_client * CONTENDERS) as m:
                for member, done in zip(clients, dones):
                    member.handler.spawn(contend, member, done)
                for done in dones:
                    if not done.wait(120):
                        raise RuntimeError("a contender did not finish")
            if failures:
                raise failures[0]
            out = m.result()
            return {"cycles_s": out["ops_s"], "cpu_us_op": out["cpu_us_op"]}
        finally:
            for other in others:
                other.stop()
                other.close()

    def connect() -> dict[str, float]:
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            zk = client()
            samples.append(time.perf_counter() - start)
            zk.stop()
            zk.close()
        return {"connect_ms": statistics.median(samples) * 1e3}

    def idle() -> dict[str, float]:
        # One client first, so what a process makes once is not counted per client: the
        # handler's library (gevent, eventlet) is imported by make_handler, its hub made.
        warm = client()
        warm.stop()
        warm.close()
        del warm
        gc.collect()
        rss0, threads0 = rss_kib(), threading.active_count()
        clients = [client() for _ in range(IDLE_CLIENTS)]
        gc.collect()
        rss1, threads1 = rss_kib(), threading.active_count()
        for zk in clients:
            zk.stop()
            zk.close()
        return {
            "rss_kib_client": (rss1 - rss0) / IDLE_CLIENTS,
            "threads_client": (threads1 - threads0) / IDLE_CLIENTS,
        }

    return {
        "sync_get": sync(lambda zk, i: zk.get(root)),
        "sync_set": sync(lambda zk, i: zk.set(root, b"y" * 32)),
        "sync_create_delete": sync(create_delete),
        "pipe_get_1": pipe(1),
        "pipe_get_16": pipe(16),
        "pipe_get_256": pipe(256),
        "creates_256": lambda: with_client(creates),
        "big_value": lambda: with_client(big),
        "watch_latency": lambda: with_client(watch),
        "lock_uncontended": lambda: with_client(lock_cycles),
        "lock_contended4": lambda: with_client(lock_contended),
        "connect": connect,
        "idle_clients": idle,
    }
