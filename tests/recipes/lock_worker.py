"""Worker process of the cross-process mutual-exclusion test, and the history checker.

Run as ``python lock_worker.py HOSTS LOCK_PATH OUTFILE COUNT MODE HOLD_MS``:

* joins a start barrier (ephemeral ``/ready/<pid>``, then waits for ``/go``), so every worker
  contends at once;
* ``COUNT`` times: takes the ``Lock`` at ``LOCK_PATH``, notes the monotonic time, holds it for
  ``HOLD_MS`` ms, notes the time again, releases it, and appends one line
  ``<fencing token> <enter ns> <exit ns> <pid>`` to ``OUTFILE`` (one ``O_APPEND`` write);
* ``MODE`` is ``lock``, or ``bypass``: a deliberately broken lock whose acquire is a no-op
  (the token is then the czxid of a throw-away node, so tokens still look plausible).

Every wait is bounded (60 s overall); the exit status is non-zero on any failure.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import NamedTuple

TOTAL_BUDGET = 60.0


class Entry(NamedTuple):
    token: int
    enter: int
    exit: int
    pid: int


def parse(lines: list[str]) -> list[Entry]:
    entries = []
    for line in lines:
        token, enter, exit_, pid = (int(field) for field in line.split())
        entries.append(Entry(token, enter, exit_, pid))
    return entries


def check_history(entries: list[Entry]) -> list[str]:
    """Violations of mutual exclusion in a history: holding intervals that overlap, and
    fencing tokens that do not strictly increase in the order the holders entered."""
    problems = []
    ordered = sorted(entries, key=lambda entry: entry.enter)
    for before, after in zip(ordered, ordered[1:]):
        if after.enter <= before.exit:
            problems.append(f"overlap: {before} and {after}")
        if after.token <= before.token:
            problems.append(f"token not increasing: {before.token} then {after.token}")
    return problems


def _wait_for_go(client, deadline: float) -> None:
    client.create(f"/ready/{os.getpid()}", ephemeral=True, makepath=True)
    go = threading.Event()
    if client.exists("/go", watch=lambda event: go.set()) is None:
        if not go.wait(max(0.0, deadline - time.monotonic())):
            raise SystemExit("no /go in time")


def _take(client, lock, mode: str, deadline: float) -> int:
    if mode == "lock":
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise SystemExit("acquire failed")
        return int(lock.fencing_token)
    path, stat = client.create(
        lock.path + "/bypass-", ephemeral=True, sequence=True, include_data=True
    )
    client.delete(path)
    return int(stat.czxid)


def main(argv: list[str]) -> int:
    from kazoo.client import KazooClient
    from kazoo.recipe.lock import Lock

    hosts, lock_path, outfile, count, mode, hold_ms = argv
    if mode not in ("lock", "bypass"):
        raise SystemExit(f"unknown mode {mode!r}")
    deadline = time.monotonic() + TOTAL_BUDGET
    client = KazooClient(hosts, timeout=15.0)
    client.start(timeout=15.0)
    fd = os.open(outfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        client.ensure_path(lock_path)
        _wait_for_go(client, deadline)
        lock = Lock(client, lock_path, str(os.getpid()))
        for _ in range(int(count)):
            token = _take(client, lock, mode, deadline)
            enter = time.monotonic_ns()
            time.sleep(int(hold_ms) / 1000.0)  # the work done under the lock
            exit_ = time.monotonic_ns()
            if mode == "lock":
                lock.release()
            os.write(fd, f"{token} {enter} {exit_} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
        client.stop()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
