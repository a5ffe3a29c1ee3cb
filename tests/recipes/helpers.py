"""Helpers shared by the recipe tests (``tests.recipes.helpers``).

Plain ``threading``/``socket`` code only, so the tests also run monkey-patched under gevent
or eventlet. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from typing import Any, Callable

from kazoo.exceptions import NoNodeError
from kazoo.recipe.lock import Lock

WAIT = 15.0


class Background:
    """Run ``func(*args, **kwargs)`` in a thread; ``result()`` waits for it (bounded)."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(func, args, kwargs), daemon=True)
        self.thread.start()

    def _run(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            self.value = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self.error = exc
        finally:
            self.done.set()

    def result(self, timeout: float = WAIT) -> Any:
        assert self.done.wait(timeout), "the background call did not finish in time"
        if self.error is not None:
            raise self.error
        return self.value


def blocked_waiter(lock: Any, observer: Any, path: str, count: int, **kwargs: Any) -> Background:
    """Start ``lock.acquire(**kwargs)`` in a thread; wait until ``path`` has ``count``
    children (its node is there) and check that it is still waiting."""
    waiter = Background(lock.acquire, **kwargs)
    wait_children(observer, path, lambda names: len(names) >= count)
    if hasattr(lock, "node"):
        # The node is on the server before the waiter has read the reply that names it:
        # no event marks that, so look (briefly, bounded) until the lock knows its node.
        deadline = time.monotonic() + WAIT
        while lock.node is None and not waiter.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
    assert not waiter.done.is_set()
    return waiter


class Recorder:
    """A callable that records its calls (argument tuples) and lets tests wait for them."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.threads: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, *args: Any) -> None:
        with self._cond:
            self.calls.append(args)
            self.threads.append(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.calls), timeout)

    def wait_call(self, *args: Any, timeout: float = WAIT) -> bool:
        """Wait until a call with exactly ``args`` was recorded."""
        return self.wait_for(lambda calls: args in calls, timeout)

    def wait_count(self, count: int, timeout: float = WAIT) -> bool:
        return self.wait_for(lambda calls: len(calls) >= count, timeout)


class StateLog(Recorder):
    """A listener recording the states (or other single values) it is called with."""

    @property
    def items(self) -> list[Any]:
        return [call[0] for call in self.calls]

    def wait_states(self, *states: Any, timeout: float = WAIT) -> bool:
        """Wait until ``states`` appear in this order (not necessarily adjacent)."""

        def seen(calls: list[tuple[Any, ...]]) -> bool:
            it = iter(call[0] for call in calls)
            return all(state in it for state in states)

        return self.wait_for(seen, timeout)


def held_lock(
    client: Any, path: str, identifier: Any = None, **acquire: Any
) -> tuple[Lock, StateLog]:
    """A ``Lock`` on ``path`` acquired through ``client`` (``acquire`` are the arguments of
    ``acquire()``), and a :class:`StateLog` listening to it."""
    lock = Lock(client, path, identifier)
    states = StateLog()
    lock.add_listener(states)
    assert lock.acquire(**acquire)
    return lock, states


def children(client: Any, path: str) -> list[str]:
    """Sorted children of ``path`` (``[]`` if absent), read after a ``sync`` so that writes
    made through other clients (other servers) are seen."""
    client.sync("/")
    try:
        return sorted(client.get_children(path))
    except NoNodeError:
        return []


def wait_children(
    client: Any, path: str, predicate: Callable[[list[str]], bool], timeout: float = WAIT
) -> list[str]:
    """Wait (on watches) until ``predicate(sorted children of path)`` holds; return them."""
    deadline = time.monotonic() + timeout
    while True:
        changed = threading.Event()

        def fire(event: Any, changed: threading.Event = changed) -> None:
            changed.set()

        try:
            names = sorted(client.get_children(path, watch=fire))
        except NoNodeError:
            if client.exists(path, watch=fire) is not None:
                continue
            names = []
        if predicate(names):
            return names
        left = deadline - time.monotonic()
        assert left > 0 and changed.wait(left), f"children of {path} stayed {names}"


async def await_children(
    azk: Any, path: str, predicate: Callable[[list[str]], bool], timeout: float = WAIT
) -> list[str]:
    """Asyncio twin of :func:`wait_children` for an asyncio client."""

    async def watch_until() -> list[str]:
        while True:
            changed = asyncio.Event()

            def fire(event: Any, changed: asyncio.Event = changed) -> None:
                changed.set()

            try:
                names = sorted(await azk.get_children(path, watch=fire))
            except NoNodeError:
                if await azk.exists(path, watch=fire) is not None:
                    continue
                names = []
            if predicate(names):
                return names
            await changed.wait()

    return await asyncio.wait_for(watch_until(), timeout)


class PausableProxy:
    """A TCP proxy to one ZooKeeper server that can cut its clients off for a while.

    While paused it drops every proxied connection and closes new ones at once, so a client
    that talks only through it stays disconnected (SUSPENDED) until ``resume()``.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.paused = threading.Event()
        self.closed = threading.Event()
        self._socks: list[socket.socket] = []
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.paused.is_set() or self.closed.is_set():
                conn.close()
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                conn.close()
                continue
            with self._guard:
                self._socks += [conn, up]
            threading.Thread(target=self._pump, args=(conn, up), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self.paused.is_set() and not self.closed.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket closed by pause()
            pass
        finally:
            for sock in (a, b):
                self._kill(sock)

    def _kill(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def pause(self) -> None:
        self.paused.set()
        with self._guard:
            socks, self._socks = self._socks, []
        for sock in socks:
            self._kill(sock)

    def resume(self) -> None:
        self.paused.clear()

    def close(self) -> None:
        self.closed.set()
        self.pause()
        self.listener.close()
