"""Process and port hygiene for the managed servers.

* Every child is started from one long-lived daemon thread with
  ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux): the kernel kills it if the
  Python process dies, even by SIGKILL. (The death signal is tied to the
  thread that forked the child, hence the dedicated thread.)
* Children are stopped by their own PID: SIGTERM, then SIGKILL after a bound.
* Free port blocks are claimed with a bind probe plus an ``flock`` on a lock
  file per block, so concurrent test runs on one machine never pick the same
  ports.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from typing import IO, Any, Callable

__all__ = [
    "PortClaim",
    "claim_port_base",
    "spawn",
    "stop_process",
    "threads_stopped",
    "wait_stopped",
]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _load_prctl()


def _die_with_parent_of(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class _Spawner:
    """A daemon thread that lives as long as the interpreter and forks children."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]]]
        self._jobs = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

    def submit(self, job: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="kazoo-testing-spawner", daemon=True
                )
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((job, future))
        return future.result(timeout=60)


_SPAWNER = _Spawner()


def spawn(
    args: list[str],
    cwd: str,
    stdout: IO[bytes],
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``args``; the child is SIGKILLed by the kernel if we die."""

    def job() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
            preexec_fn=_die_with_parent_of(os.getpid()) if _PRCTL is not None else None,
        )

    return _SPAWNER.submit(job)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the child by its PID, SIGKILL it after ``grace`` seconds; reap it."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
        proc.terminate()
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
    except ProcessLookupError:
        proc.wait(timeout=30)


def threads_stopped(pid: int) -> bool | None:
    """True when every thread of ``pid`` is in a job-control stop (state ``T``), False when
    one still runs, None when this cannot be seen (no ``/proc``, or the process is gone)."""
    task_dir = f"/proc/{pid}/task"
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"{task_dir}/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        # "tid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ")"
        fields = stat[stat.rfind(b")") + 1 :].split()
        if not fields or fields[0] not in (b"T", b"t"):
            return False
    return True


def wait_stopped(pid: int, timeout: float = 10.0) -> bool:
    """Wait until SIGSTOP has stopped every thread of ``pid``; False after ``timeout``.

    ``kill(SIGSTOP)`` returns before the process stops: the kernel stops each thread when
    that thread next gets a CPU, and until the last one has, the process may still accept
    a connection, answer a request or talk to its peers (on a busy machine, for some
    milliseconds). Where ``/proc`` is missing nothing can be seen and this returns True."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        stopped = threads_stopped(pid)
        if stopped is None or stopped:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        # nothing to wait on but the kernel's thread states: poll them, briefly
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.01)


# --------------------------------------------------------------------------- ports

_LOCK_DIR = os.path.join(tempfile.gettempdir(), "kazoo-testing-ports")
_PORT_LOW, _PORT_HIGH = 20000, 32000  # below Linux's ephemeral range (32768+)
BLOCK = 10  # ports per member: client, election, leader, admin, TLS (+ spare)
USED_PER_BLOCK = 5


class PortClaim:
    """Held lock files for a run of port blocks; ``release()`` gives them back."""

    def __init__(self, base: int, files: list[IO[bytes]]) -> None:
        self.base = base
        self._files = files

    def release(self) -> None:
        files, self._files = self._files, []
        for f in files:
            f.close()  # closing drops the flock

    def __repr__(self) -> str:
        return f"PortClaim(base={self.base}, held={bool(self._files)})"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _try_claim(base: int, members: int) -> PortClaim | None:
    import fcntl

    files: list[IO[bytes]] = []
    claim = PortClaim(base, files)
    for i in range(members):
        block = base + BLOCK * i
        f = open(os.path.join(_LOCK_DIR, f"block-{block}.lock"), "ab")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            claim.release()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        files.append(f)
        if not all(_port_free(block + k) for k in range(USED_PER_BLOCK)):
            claim.release()
            return None
    return claim


def claim_port_base(members: int, attempts: int = 200) -> PortClaim:
    """Find and lock ``members`` consecutive free blocks of 10 ports on loopback."""
    os.makedirs(_LOCK_DIR, exist_ok=True)
    rng = random.Random()
    span = BLOCK * members
    for _ in range(attempts):
        base = rng.randrange(_PORT_LOW, _PORT_HIGH - span, BLOCK)
        claim = _try_claim(base, members)
        if claim is not None:
            return claim
    raise RuntimeError(f"no free block of {span} ports found on 127.0.0.1")
