"""Fixtures for the driver tests: fake servers, clients, state recording and leak checks.

``env`` builds its clients on the handler of the ``driver_handler`` fixture: the one
``KAZOO_TEST_HANDLER`` names, unless a module parametrises it (``DRIVER_HANDLERS``: all
three kinds in a process that is not monkey-patched, where the green handlers run their hub
in the test's thread).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.testing.handlers import handler_name

from ..green.flavours import PROCESS_KINDS, Flavour, flavour, flavour_of, open_sockets
from .fakeserver import FakeZooKeeper

#: The handlers a driver test module can be parametrised over (``driver_handler``).
DRIVER_HANDLERS = PROCESS_KINDS

#: Bound on joining the threads a test left behind.
JOIN_BOUND = 5.0


def _block(cond: threading.Condition, left: float) -> None:
    cond.wait(left)


class Recorder:
    """A callable that records what it is called with (states, watch events), for bounded
    waits from the test thread. ``pause(cond, left)`` is how a wait waits (see
    :meth:`Flavour.pause`); by default it blocks in ``cond.wait``."""

    def __init__(self, pause: Callable[[threading.Condition, float], None] = _block) -> None:
        self.items: list[Any] = []
        self.times: list[float] = []  # time.monotonic() of each call
        self._cond = threading.Condition()
        self._pause = pause

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def wait_for(self, item: Any, start: int = 0, timeout: float = 5.0) -> int:
        """Wait until ``item`` is recorded at an index >= ``start``; return that index."""
        return self.wait_until(lambda x: x == item, start, timeout, repr(item))

    def wait_until(self, match: Any, start: int = 0, timeout: float = 5.0, what: str = "") -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.items)):
                    if match(self.items[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {what or match} after index {start} within {timeout} s: {self.items}"
                    )
                self._pause(self._cond, left)

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.items)


class StateLog(Recorder):
    """Records every KazooState a client reports (registered as its listener)."""

    def __init__(self, client: KazooClient) -> None:
        super().__init__(flavour_of(client.handler).pause)
        client.add_listener(self)

    @property
    def states(self) -> list[Any]:
        return self.snapshot()


class _ErrorRecords(logging.Handler):
    """Keeps ERROR (and worse) records logged under ``kazoo``: a dead I/O loop logs one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Env:
    """Tracks what a test starts and checks, at the end, that nothing leaked."""

    def __init__(self, kind: Flavour | None = None) -> None:
        self.flavour = kind if kind is not None else Flavour()
        self.flavour.hub()  # part of the baseline, like the threads already running
        self.threads: set[threading.Thread] = set(threading.enumerate())
        self.greenlets = self.flavour.live_greenlets()
        self.sockets = open_sockets()
        self.servers: list[FakeZooKeeper] = []
        self.clients: list[KazooClient] = []
        self.finished = False
        self._errors = _ErrorRecords()
        logging.getLogger("kazoo").addHandler(self._errors)

    def server(self, **kwargs: Any) -> FakeZooKeeper:
        kwargs.setdefault("pause", self.flavour.pause)
        server = FakeZooKeeper(**kwargs)
        self.servers.append(server)
        return server

    def client(self, server: FakeZooKeeper, chroot: str = "", **kwargs: Any) -> KazooClient:
        kwargs.setdefault("timeout", 5.0)
        if "handler" not in kwargs:
            kwargs["handler"] = self.flavour.handler()
        client = KazooClient(hosts=server.host + chroot, **kwargs)
        self.clients.append(client)
        return client

    def shutdown(self) -> list[str]:
        """Stop and close every client and server; a list of what went wrong."""
        problems: list[str] = []
        for client in self.clients:
            started = time.monotonic()
            try:
                client.stop()
                client.close()
            except Exception as exc:  # reported below, cleanup goes on
                problems.append(f"stop()/close() raised {exc!r}")
            if time.monotonic() - started > 11.0:
                problems.append("stop()+close() took longer than their bound")
        for server in self.servers:
            try:
                server.close()
            except AssertionError as exc:
                problems.append(str(exc))
            problems.extend(f"fake server: {err}" for err in server.errors)
        return problems

    def finish(self) -> None:
        """Shut everything down and assert: no leaked thread, no leaked socket, no dead loop."""
        if self.finished:
            return
        self.finished = True
        logging.getLogger("kazoo").removeHandler(self._errors)
        problems = self.shutdown()
        deadline = time.monotonic() + JOIN_BOUND
        for thread in set(threading.enumerate()) - self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        leaked = [t.name for t in set(threading.enumerate()) - self.threads if t.is_alive()]
        if leaked:
            problems.append(f"leaked threads: {leaked}")
        greenlets = self.flavour.live_greenlets()
        while greenlets > self.greenlets and time.monotonic() < deadline:
            self.flavour.sleep(0.01)  # let finished greenlets run to their end
            greenlets = self.flavour.live_greenlets()
        if greenlets > self.greenlets:
            problems.append(f"leaked greenlets: {greenlets - self.greenlets}")
        sockets = open_sockets()
        if sockets > self.sockets:
            problems.append(f"leaked sockets: {sockets - self.sockets}")
        for record in self._errors.records:
            problems.append(f"error logged: {record.name}: {record.getMessage()}")
        assert not problems, problems


@pytest.fixture
def driver_handler(request: pytest.FixtureRequest) -> str:
    """The handler kind of the test's clients (parametrise it with ``indirect=True``)."""
    return getattr(request, "param", None) or handler_name()


@pytest.fixture
def env(driver_handler: str) -> Any:
    """An :class:`Env`; its ``finish()`` runs at teardown if the test did not call it."""
    environment = Env(flavour(driver_handler))
    yield environment
    environment.finish()
