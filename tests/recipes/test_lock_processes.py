"""Mutual exclusion across processes: N worker processes share one Lock (API §2.10, §3.4).

The history the workers write is checked for overlapping holding intervals and for fencing
tokens that do not strictly increase; the same checker is shown to catch a broken lock.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.recipes.helpers import children, wait_children
from tests.recipes.lock_worker import Entry, check_history, parse

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("lock_worker.py")
WORKERS = 4
ROUNDS = 25
HOLD_MS = 3
STARTUP = 60.0  # bound on the workers' start (imports, connecting) on a loaded machine
RUN = 90.0


def run_workers(zk_hosts: str, zk_client, tmp_path: Path, mode: str) -> list[Entry]:
    out = tmp_path / "history.txt"
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(WORKERS)]
    args = [zk_hosts, "/mutex", str(out), str(ROUNDS), mode, str(HOLD_MS)]
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), *args], stdout=log, stderr=log)
        for log in logs
    ]
    try:
        wait_children(zk_client, "/ready", lambda names: len(names) == WORKERS, STARTUP)
        zk_client.create("/go")
        codes = [proc.wait(timeout=RUN) for proc in procs]
        output = [(tmp_path / f"worker{i}.log").read_text() for i in range(WORKERS)]
        assert codes == [0] * WORKERS, output
    finally:
        for proc in procs:  # stop each one we started, by its pid
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for log in logs:
            log.close()
    entries = parse(out.read_text().splitlines())
    assert len(entries) == WORKERS * ROUNDS
    assert len({entry.pid for entry in entries}) == WORKERS
    return entries


def test_one_holder_at_a_time_across_processes(zk_hosts, zk_client, tmp_path) -> None:
    entries = run_workers(zk_hosts, zk_client, tmp_path, "lock")
    assert check_history(entries) == []
    assert children(zk_client, "/mutex") == []


def test_the_checker_catches_a_broken_lock(zk_hosts, zk_client, tmp_path) -> None:
    entries = run_workers(zk_hosts, zk_client, tmp_path, "bypass")
    problems = check_history(entries)
    assert any(problem.startswith("overlap") for problem in problems), problems


def test_the_checker_catches_tokens_out_of_order() -> None:
    good = [Entry(5, 0, 10, 1), Entry(7, 11, 20, 2), Entry(9, 21, 30, 1)]
    assert check_history(good) == []
    swapped = [Entry(5, 0, 10, 1), Entry(4, 11, 20, 2)]
    assert check_history(swapped) == ["token not increasing: 5 then 4"]
    touching = [Entry(5, 0, 10, 1), Entry(6, 10, 20, 2)]
    assert check_history(touching)[0].startswith("overlap")
