"""Run a script against a throwaway local ZooKeeper.

``python -m kazoo.testing.tour_runner [--size N] SCRIPT [ARGS...]`` starts a
managed ZooKeeper (standalone by default) on free loopback ports, runs
``python SCRIPT HOSTS ARGS...`` with ``KAZOO_TOUR_HOSTS=HOSTS`` in its
environment, and stops the server by its PID afterwards, also when the script
fails or the runner is interrupted (and, through the kernel's parent-death
signal, even when the runner itself is killed). Exits with the script's status.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from kazoo.testing._process import claim_port_base
from kazoo.testing.common import ZookeeperCluster


class _Interrupted(BaseException):
    pass


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signum)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kazoo.testing.tour_runner")
    parser.add_argument("--size", type=int, default=1, help="number of servers (default 1)")
    parser.add_argument("script", help="Python script to run; gets the hosts string as argv[1]")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="more arguments for the script")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    offset = os.environ.get("ZOOKEEPER_PORT_OFFSET")
    claim = None if offset else claim_port_base(options.size)
    base = int(offset) if offset else claim.base if claim else 0
    cluster = ZookeeperCluster(size=options.size, port_offset=base)
    child: subprocess.Popen[bytes] | None = None
    try:
        print(
            f"tour: starting a throwaway ZooKeeper {cluster.install.version_string} "
            f"({options.size} server{'s' if options.size > 1 else ''}) "
            f"from {cluster.install.source}",
            flush=True,
        )
        started = time.monotonic()
        cluster.start()
        hosts = cluster.servers
        pids = ", ".join(str(member.pid) for member in cluster)
        print(
            f"tour: ZooKeeper is serving on {hosts} (pid {pids}) after "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        env = dict(os.environ, KAZOO_TOUR_HOSTS=hosts)
        child = subprocess.Popen([sys.executable, options.script, hosts, *options.args], env=env)
        return child.wait()
    except (KeyboardInterrupt, _Interrupted):
        print("tour: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        cluster.terminate()
        if claim is not None:
            claim.release()
        print("tour: ZooKeeper stopped and its files removed", flush=True)


if __name__ == "__main__":
    sys.exit(main())
