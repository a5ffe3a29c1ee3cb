"""The benchmark scenarios for :class:`kazoo.aio.AsyncKazooClient`.

The same scenarios and metric names as the blocking ones in ``_kazoo_scenarios.py``, plus
two lock scenarios. Each callable runs its own event loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable

from benchmarks._kazoo_scenarios import rss_kib
from benchmarks.worker import (
    BIG,
    CREATES,
    IDLE_CLIENTS,
    PIPE_OPS,
    SYNC_OPS,
    WARMUP,
    WATCH_ROUNDS,
    Measure,
    cpu,
    percentiles,
)
from kazoo.aio import AsyncKazooClient

Table = dict[str, Callable[[], dict[str, float]]]
Body = Callable[[AsyncKazooClient], Awaitable[dict[str, float]]]

LOCK_SECONDS = 2.0
LOCK_CYCLES = 1000
CONTENDED_CLIENTS = 4
CONTENDED_CYCLES = 400


async def window(submit: Callable[[int], Awaitable[Any]], total: int, k: int) -> None:
    """Run ``submit(0) .. submit(total - 1)`` with at most ``k`` outstanding: ``k`` worker
    tasks, each awaiting its next call in a loop (the plain asyncio way)."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await submit(i)

    await asyncio.gather(*(worker() for _ in range(min(k, total))))


def scenarios(hosts: str, root: str) -> Table:
    async def client() -> AsyncKazooClient:
        zk = AsyncKazooClient(hosts, timeout=10.0)
        await zk.start(timeout=15)
        return zk

    async def done(zk: AsyncKazooClient) -> None:
        await zk.stop()
        await zk.close()

    def with_client(body: Body) -> Callable[[], dict[str, float]]:
        async def main() -> dict[str, float]:
            zk = await client()
            try:
                await zk.create(root, b"x" * 32)
                return await body(zk)
            finally:
                await done(zk)

        return lambda: asyncio.run(main())

    def sync(
        step: Callable[[AsyncKazooClient, int], Awaitable[Any]],
    ) -> Callable[[], dict[str, float]]:
        async def run(zk: AsyncKazooClient) -> dict[str, float]:
            for i in range(WARMUP):
                await step(zk, i)
            samples = []
            cpu0 = cpu()
            for i in range(SYNC_OPS):
                start = time.perf_counter()
                await step(zk, i)
                samples.append(time.perf_counter() - start)
            out = percentiles(samples)
            out["cpu_us_op"] = (cpu() - cpu0) / SYNC_OPS * 1e6
            return out

        return with_client(run)

    async def create_delete(zk: AsyncKazooClient, i: int) -> None:
        await zk.create(f"{root}/c{i}")
        await zk.delete(f"{root}/c{i}")

    def pipe(k: int) -> Callable[[], dict[str, float]]:
        async def run(zk: AsyncKazooClient) -> dict[str, float]:
            await window(lambda i: zk.get(root), WARMUP, k)
            with Measure(PIPE_OPS) as m:
                await window(lambda i: zk.get(root), PIPE_OPS, k)
            return m.result()

        return with_client(run)

    async def creates(zk: AsyncKazooClient) -> dict[str, float]:
        with Measure(CREATES) as m:
            await window(lambda i: zk.create(f"{root}/n{i}"), CREATES, 256)
        with Measure(CREATES) as d:
            await window(lambda i: zk.delete(f"{root}/n{i}"), CREATES, 256)
        out = m.result()
        out["delete_ops_s"] = d.result()["ops_s"]
        return out

    async def big(zk: AsyncKazooClient) -> dict[str, float]:
        value = os.urandom(BIG)
        await zk.set(root, value)
        rounds = 40
        start = time.perf_counter()
        for _ in range(rounds):
            await zk.get(root)
        got = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(rounds):
            await zk.set(root, value)
        put = time.perf_counter() - start
        mib = BIG * rounds / (1 << 20)
        return {"get_mib_s": mib / got, "set_mib_s": mib / put}

    async def watch(zk: AsyncKazooClient) -> dict[str, float]:
        arrived: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def consume() -> None:
            async for data, _stat, _event in zk.watch_data(root):
                arrived.put_nowait((time.perf_counter(), data))

        consumer = asyncio.ensure_future(consume())
        try:
            await arrived.get()  # the current state, at once
            samples = []
            for i in range(WATCH_ROUNDS):
                value = b"%d" % i
                start = time.perf_counter()
                await zk.set(root, value)
                seen, data = await asyncio.wait_for(arrived.get(), 10)
                if data != value:
                    raise RuntimeError(f"watch_data gave {data!r}, expected {value!r}")
                samples.append(seen - start)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        return {"p50_us": statistics.median(samples) * 1e6}

    async def lock_uncontended(zk: AsyncKazooClient) -> dict[str, float]:
        lock = zk.Lock(f"{root}/lock")
        for _ in range(10):
            async with lock:
                pass
        cycles = 0
        cpu0, start = cpu(), time.perf_counter()
        deadline = start + LOCK_SECONDS
        while cycles < LOCK_CYCLES and time.perf_counter() < deadline:
            async with lock:
                pass
            cycles += 1
        wall, used = time.perf_counter() - start, cpu() - cpu0
        return {"cycles_s": cycles / wall, "cpu_us_op": used / cycles * 1e6}

    async def lock_contended(zk: AsyncKazooClient) -> dict[str, float]:
        others = [await client() for _ in range(CONTENDED_CLIENTS - 1)]
        try:
            path = f"{root}/lock"
            counter = iter(range(CONTENDED_CYCLES))

            async def contender(c: AsyncKazooClient) -> None:
                lock = c.Lock(path)
                for _ in counter:
                    async with lock:
                        pass

            start = time.perf_counter()
            await asyncio.gather(*(contender(c) for c in [zk, *others]))
            wall = time.perf_counter() - start
        finally:
            for c in others:
                await done(c)
        return {"cycles_s": CONTENDED_CYCLES / wall}

    def connect() -> dict[str, float]:
        async def main() -> dict[str, float]:
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                zk = await client()
                samples.append(time.perf_counter() - start)
                await done(zk)
            return {"connect_ms": statistics.median(samples) * 1e3}

        return asyncio.run(main())

    def idle() -> dict[str, float]:
        async def main() -> dict[str, float]:
            gc.collect()
            rss0, threads0 = rss_kib(), threading.active_count()
            clients = [await client() for _ in range(IDLE_CLIENTS)]
            await asyncio.sleep(0.1)  # let each settle into its idle state
            gc.collect()
            rss1, threads1 = rss_kib(), threading.active_count()
            for zk in clients:
                await done(zk)
            return {
                "rss_kib_client": (rss1 - rss0) / IDLE_CLIENTS,
                "threads_client": (threads1 - threads0) / IDLE_CLIENTS,
            }

        return asyncio.run(main())

    return {
        "sync_get": sync(lambda zk, i: zk.get(root)),
        "sync_set": sync(lambda zk, i: zk.set(root, b"y" * 32)),
        "sync_create_delete": sync(create_delete),
        "pipe_get_1": pipe(1),
        "pipe_get_16": pipe(16),
        "pipe_get_256": pipe(256),
        "creates_256": with_client(creates),
        "big_value": with_client(big),
        "watch_latency": with_client(watch),
        "lock_uncontended": with_client(lock_uncontended),
        "lock_contended4": with_client(lock_contended),
        "connect": connect,
        "idle_clients": idle,
    }
