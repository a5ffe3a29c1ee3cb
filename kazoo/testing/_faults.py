"""Real faults for a live client: server-side session expiry, a dropped socket.

Both are done from outside the client, the way they happen in production:

* ``expire_session``: a second connection presents the client's session id and
  password (which also takes the session over and closes the client's own
  connection), then sends closeSession; the server ends the session for good.
* ``drop_connection``: ``shutdown(SHUT_RDWR)`` on the client's live socket.

They read two private attributes of the client's current connection:
``client._connection._socket`` (the live socket, or None) and
``client._connection._address`` (its ``(host, port)``).

Both block while they wait for the client's state changes, so for an
``AsyncKazooClient`` they must run in another thread than its event loop, e.g.
``await asyncio.to_thread(expire_session, zk)``; called on that loop they raise
``RuntimeError`` at once instead of waiting for states that cannot come.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Protocol

from kazoo.testing import _wire

__all__ = ["FaultInjectionError", "drop_connection", "expire_session"]

LOST_WAIT = 5.0
RECONNECT_WAIT = 15.0


class FaultInjectionError(Exception):
    """The fault was injected but the client did not go through the expected states."""


class EventLike(Protocol):
    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> Any: ...


EventFactory = Callable[[], EventLike]


class _StateSequence:
    """A listener that notes when the client has gone through ``states`` in order."""

    def __init__(self, states: Sequence[str], event_factory: EventFactory) -> None:
        self.states = tuple(states)
        self.events = [event_factory() for _ in self.states]
        self.seen: list[str] = []
        self._pos = 0

    def __call__(self, state: Any) -> None:
        self.seen.append(str(state))
        if self._pos < len(self.states) and state == self.states[self._pos]:
            self.events[self._pos].set()
            self._pos += 1

    def wait(self, index: int, timeout: float) -> bool:
        return bool(self.events[index].wait(max(0.0, timeout)))


def _event_factory(client: Any, event_factory: EventFactory | None) -> EventFactory:
    _refuse_own_loop(client)
    if event_factory is not None:
        return event_factory
    handler = getattr(client, "handler", None)
    if handler is None:  # AsyncKazooClient: its listeners run on the loop, we wait here
        return threading.Event
    factory: EventFactory = handler.event_object
    return factory


def _refuse_own_loop(client: Any) -> None:
    loop = getattr(client, "_loop", None)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if loop is running:
        raise RuntimeError(
            "this blocks until the client changes state; for an AsyncKazooClient run it "
            "in another thread, e.g. await asyncio.to_thread(expire_session, client)"
        )


def _current_addresses(client: Any) -> list[tuple[str, int]]:
    """The server the client is connected to first, then every configured host."""
    addresses: list[tuple[str, int]] = []
    connection = getattr(client, "_connection", None)
    current = getattr(connection, "_address", None)
    if current:
        addresses.append((str(current[0]), int(current[1])))
    for host, port in getattr(client, "hosts", ()) or ():
        if (host, port) not in addresses:
            addresses.append((host, port))
    return addresses


def _close_session_on_server(
    addresses: Sequence[tuple[str, int]], session_id: int, password: bytes, budget: float
) -> bool:
    """Take the session over on one server and close it; True if a server said so."""
    for address in addresses:
        try:
            sock, response = _wire.handshake(
                address, min(budget, 5.0), session_id=session_id, password=password
            )
        except OSError:
            continue
        try:
            if response.timeout_ms <= 0:
                return True  # already expired or closed
            _wire.close_session(sock, min(budget, 5.0))
            return True
        except OSError:
            continue
        finally:
            sock.close()
    return False


def expire_session(
    client: Any, timeout: float = 20.0, event_factory: EventFactory | None = None
) -> None:
    """Expire ``client``'s session on the server and wait until it has a new one.

    Waits at most 5 s per attempt for LOST (repeating the expiry while the
    overall ``timeout`` allows) and then at most 15 s for CONNECTED on a new
    session. Raises ``FaultInjectionError`` otherwise.
    """
    client_id = client.client_id
    if client_id is None:
        raise FaultInjectionError("the client has no session to expire")
    session_id, password = client_id
    deadline = time.monotonic() + timeout
    watcher = _StateSequence(("LOST", "CONNECTED"), _event_factory(client, event_factory))
    client.add_listener(watcher)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FaultInjectionError(
                    f"session {session_id:#x} did not end within {timeout} s "
                    f"(states seen: {watcher.seen})"
                )
            _close_session_on_server(_current_addresses(client), session_id, password, left)
            if watcher.wait(0, min(LOST_WAIT, deadline - time.monotonic())):
                break
        if not watcher.wait(1, min(RECONNECT_WAIT, max(deadline - time.monotonic(), 1.0))):
            raise FaultInjectionError(
                f"no CONNECTED after the expiry of session {session_id:#x} "
                f"(states seen: {watcher.seen})"
            )
        new_id = client.client_id
        if new_id is not None and new_id[0] == session_id:
            raise FaultInjectionError(f"client still on session {session_id:#x} after LOST")
    finally:
        client.remove_listener(watcher)


def drop_connection(
    client: Any, timeout: float = 20.0, event_factory: EventFactory | None = None
) -> None:
    """Shut the client's TCP connection down from outside; wait for SUSPENDED
    (at most 5 s) and CONNECTED again (at most 15 s), else ``FaultInjectionError``."""
    connection = getattr(client, "_connection", None)
    sock: socket.socket | None = getattr(connection, "_socket", None)
    if sock is None:
        raise FaultInjectionError("the client has no live connection to drop")
    deadline = time.monotonic() + timeout
    watcher = _StateSequence(("SUSPENDED", "CONNECTED"), _event_factory(client, event_factory))
    client.add_listener(watcher)
    try:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closing: the client notices either way
        if not watcher.wait(0, min(LOST_WAIT, deadline - time.monotonic())):
            raise FaultInjectionError(f"no SUSPENDED after the drop (states: {watcher.seen})")
        if not watcher.wait(1, min(RECONNECT_WAIT, deadline - time.monotonic())):
            raise FaultInjectionError(f"no CONNECTED after the drop (states: {watcher.seen})")
    finally:
        client.remove_listener(watcher)
