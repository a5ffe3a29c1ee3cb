"""The client and its I/O driver on a green handler never reach for a blocking OS primitive:
with the stdlib's waiting primitives booby-trapped, a whole client life (connect, requests,
a watch, a reconnect, stop) still works. This is what lets the green handlers run without
monkey-patching (the I/O loop would otherwise block the hub)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from kazoo.protocol.states import EventType, KazooState

from .conftest import DRIVER_HANDLERS, Env
from .fakeserver import watch_event

#: What would block a hub if the client or the driver used it directly.
TRAPPED = (
    "threading.Lock",
    "threading.RLock",
    "threading.Event",
    "threading.Condition",
    "threading.Semaphore",
    "time.sleep",
    "socket.getaddrinfo",
    "socket.create_connection",
    "selectors.DefaultSelector",
    "select.select",
    "select.poll",
    "select.epoll",
)

pytestmark = pytest.mark.parametrize(
    "driver_handler", [kind for kind in DRIVER_HANDLERS if kind != "threading"], indirect=True
)


@contextlib.contextmanager
def trapped() -> Iterator[None]:
    """The primitives of :data:`TRAPPED` raise while in this block. (The handler modules are
    imported before: what they pick at import time is not the client's doing.)"""
    with contextlib.ExitStack() as stack:
        for target in TRAPPED:
            error = AssertionError(f"{target} used")
            # create=True: monkey-patching removes some of them (select.epoll, select.poll)
            stack.enter_context(mock.patch(target, side_effect=error, create=True))
        yield


def test_a_client_life_without_os_waits(env: Env) -> None:
    server = env.server()
    server.add_node("/a", b"x")
    kind = env.flavour
    events: list[Any] = []
    fired, suspended, back = kind.event(), kind.event(), kind.event()

    def watch(event: Any) -> None:
        events.append(event)
        fired.set()

    def listen(state: KazooState) -> None:
        if state == KazooState.SUSPENDED:
            suspended.set()
        elif state == KazooState.CONNECTED and suspended.is_set():
            back.set()

    kind.handler()  # imports the handler's module
    with trapped():
        client = env.client(server)  # its locks and events are made in here too
        client.add_listener(listen)
        client.start(timeout=5)
        assert client.get("/a", watch=watch)[0] == b"x"
        server.conn(0).send(watch_event(3, 3, "/a"))  # NodeDataChanged, SyncConnected
        assert fired.wait(5)
        server.conn(0).close()  # a reconnect, same session
        assert suspended.wait(5) and back.wait(5)
        assert client.exists("/a") is not None
        client.stop()
        client.close()
    assert [e.type for e in events] == [EventType.CHANGED]
    env.finish()
