"""``make bench``: start a throwaway ZooKeeper, run every scenario for every flavour in
interleaved rounds, and print medians as ratios to the raw ceiling measured in the same run.

    python -m benchmarks.run [--rounds 3] [--flavours raw,threading,...] [--scenarios ...]
                             [--json FILE] [--hosts HOST:PORT]

Each (round, scenario, flavour) runs in a fresh process (``benchmarks.worker``), so the
flavours never share an interpreter and gevent/eventlet need no monkey-patching here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from typing import Any

SCENARIOS = [
    "sync_get",
    "sync_set",
    "sync_create_delete",
    "pipe_get_1",
    "pipe_get_16",
    "pipe_get_256",
    "creates_256",
    "big_value",
    "watch_latency",
    "lock_uncontended",
    "lock_contended4",
    "connect",
    "idle_clients",
]
FLAVOURS = ["raw", "threading", "gevent", "eventlet", "asyncio"]
WORKER_TIMEOUT = 300

# (scenario, metric, kind, limit, flavours): kind "ratio_min" = value / raw >= limit,
# "ratio_max" = value / raw <= limit, "max"/"min" = absolute bound.
TARGETS: list[tuple[str, str, str, float, tuple[str, ...]]] = [
    ("pipe_get_256", "ops_s", "ratio_min", 0.60, ("threading", "asyncio")),
    ("pipe_get_256", "ops_s", "ratio_min", 0.50, ("gevent", "eventlet")),
    ("pipe_get_256", "cpu_us_op", "ratio_max", 3.0, ("threading", "asyncio", "gevent", "eventlet")),
    ("sync_get", "p50_us", "ratio_max", 1.3, ("threading", "asyncio")),
    ("sync_get", "p50_us", "ratio_max", 1.5, ("gevent", "eventlet")),
    ("creates_256", "ops_s", "ratio_min", 0.70, ("threading", "asyncio", "gevent", "eventlet")),
    ("watch_latency", "p50_us", "max", 200.0, ("threading", "asyncio", "gevent", "eventlet")),
    ("lock_uncontended", "cycles_s", "min", 1000.0, ("threading", "asyncio", "gevent", "eventlet")),
    ("idle_clients", "threads_client", "max", 2.0, ("threading", "asyncio", "gevent", "eventlet")),
    ("idle_clients", "rss_kib_client", "max", 25.0, ("threading", "asyncio", "gevent", "eventlet")),
]


def available(flavour: str) -> bool:
    needs = {"gevent": "gevent", "eventlet": "eventlet"}.get(flavour)
    return needs is None or importlib.util.find_spec(needs) is not None


def run_worker(flavour: str, scenario: str, hosts: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", flavour, scenario, hosts]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"flavour": flavour, "scenario": scenario, "error": "timed out"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"flavour": flavour, "scenario": scenario, "error": tail[0][:200]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    keys = {k for s in samples for k, v in s.items() if isinstance(v, (int, float))}
    keys -= {"pid", "threads_end", "round"}
    return {k: statistics.median(s[k] for s in samples if k in s) for k in sorted(keys)}


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def evaluate(results: dict[tuple[str, str], dict[str, float]]) -> list[dict[str, Any]]:
    verdicts = []
    for scenario, metric, kind, limit, flavours in TARGETS:
        for flavour in flavours:
            got = results.get((scenario, flavour), {}).get(metric)
            if got is None:
                continue
            value = got
            if kind.startswith("ratio"):
                value = ratio(got, results.get((scenario, "raw"), {}).get(metric))
                if value is None:
                    continue
            ok = value >= limit if kind.endswith("min") else value <= limit
            verdicts.append(
                {"scenario": scenario, "metric": metric, "flavour": flavour, "kind": kind,
                 "limit": limit, "value": round(value, 3), "ok": ok}
            )
    return verdicts


def print_table(results: dict[tuple[str, str], dict[str, float]], flavours: list[str]) -> None:
    print(f"\n{'scenario':<20} {'metric':<16}" + "".join(f"{f:>22}" for f in flavours))
    scenarios = sorted({s for s, _ in results}, key=lambda s: SCENARIOS.index(s))
    for scenario in scenarios:
        metrics = sorted({m for (s, _f), r in results.items() if s == scenario for m in r})
        for metric in metrics:
            base = results.get((scenario, "raw"), {}).get(metric)
            cells = []
            for flavour in flavours:
                value = results.get((scenario, flavour), {}).get(metric)
                if value is None:
                    cells.append(f"{'-':>22}")
                    continue
                r = ratio(value, base) if flavour != "raw" else None
                text = f"{value:,.1f}" + (f" ({r:.2f}x)" if r is not None else "")
                cells.append(f"{text:>22}")
            print(f"{scenario:<20} {metric:<16}" + "".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flavours", default=",".join(FLAVOURS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", default=None, help="also write JSON lines to this file")
    parser.add_argument("--hosts", default=None, help="use this server instead of starting one")
    options = parser.parse_args(argv)
    flavours = [f for f in options.flavours.split(",") if available(f)]
    scenarios = options.scenarios.split(",")
    cluster = claim = None
    hosts = options.hosts
    if hosts is None:
        from kazoo.testing._process import claim_port_base
        from kazoo.testing.common import ZookeeperCluster

        claim = claim_port_base(1)
        # The disk is not what is measured: no fsync per write (the same for every flavour).
        # The server keeps its last 500 writes in memory (it will not go lower): with the
        # 512 KiB values of every flavour that outgrows the test harness's 256 MiB heap.
        cluster = ZookeeperCluster(
            size=1,
            port_offset=claim.base,
            configuration_entries=["forceSync=no"],
            java_system_properties=["-Xmx1g"],  # after the harness's -Xmx256m: this one wins
        )
        cluster.start()
        hosts = cluster.servers
        print(f"bench: ZooKeeper on {hosts}; flavours {', '.join(flavours)}", flush=True)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    lines: list[dict[str, Any]] = []
    try:
        for round_no in range(options.rounds):
            started = time.monotonic()
            for scenario in scenarios:
                for flavour in flavours:
                    out = run_worker(flavour, scenario, hosts)
                    out["round"] = round_no
                    lines.append(out)
                    if out.get("error"):
                        print(f"bench: {flavour}/{scenario}: {out['error']}", flush=True)
                    elif not out.get("skipped"):
                        samples.setdefault((scenario, flavour), []).append(out)
            took = time.monotonic() - started
            print(f"bench: round {round_no + 1} took {took:.0f} s", flush=True)
    finally:
        if cluster is not None:
            cluster.terminate()
        if claim is not None:
            claim.release()
    results = {key: medians(found) for key, found in samples.items()}
    print_table(results, flavours)
    verdicts = evaluate(results)
    print("\ntargets:")
    for v in verdicts:
        mark = "ok  " if v["ok"] else "MISS"
        print(f"  {mark} {v['flavour']:<10} {v['scenario']}.{v['metric']} {v['kind']} "
              f"{v['limit']}: {v['value']}")
    if options.json:
        with open(options.json, "w") as out_file:
            for line in lines:
                out_file.write(json.dumps(line) + "\n")
            for (scenario, flavour), med in results.items():
                out_file.write(json.dumps({"median": med, "scenario": scenario,
                                           "flavour": flavour}) + "\n")
            for v in verdicts:
                out_file.write(json.dumps({"target": v}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
