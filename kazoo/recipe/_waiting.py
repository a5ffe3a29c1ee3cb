"""Small pieces the queue, barrier, counter and party recipes share (API §2.9).

* :class:`Deadline`: one total budget for a call, across all its waits.
* :class:`Signal`: the event a recipe waits on, set by its watch callbacks and by a state
  listener; it arms at most one one-shot watch per key at a time, so repeated calls never
  pile watches up on the client (whether or not the client deduplicates callables).
* :func:`connected`: before a read inside a timed wait, wait (within the budget) for the
  client to be connected again instead of blocking in a request queued while SUSPENDED.
* :func:`session_id` and :func:`owned`: "is this ephemeral node ours", judged by the
  current session id.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from typing import Any, Callable

from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.paths import validate_path
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.recipe._runtime import Call, Steps, Wait

__all__ = [
    "Deadline",
    "Guarded",
    "Participation",
    "Signal",
    "check_path",
    "connected",
    "default_identifier",
    "delete_own",
    "ensure_ephemeral",
    "ensure_open",
    "owned",
    "session_id",
    "uncertain",
    "watched",
]

_FINAL = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)


def ensure_open(client: Any) -> None:
    """Raise ConnectionClosedError at once when the client is stopped or never started."""
    if client.client_state == KeeperState.CLOSED:
        raise ConnectionClosedError("the client is not started (or was stopped)")


def _guarded(client: Any, steps: Steps[Any]) -> Steps[Any]:
    ensure_open(client)
    return (yield from steps)


class Guarded:
    """Mixin for a recipe core: every operation first checks that the client is open."""

    client: Any

    def _run(self, steps: Steps[Any]) -> Any:
        return super()._run(_guarded(self.client, steps))  # type: ignore[misc]


def check_path(path: str) -> str:
    """``path`` itself when it is a valid node path (the client's rules), else ValueError."""
    validate_path(path)
    return path


@functools.lru_cache(maxsize=1)
def _fqdn() -> str:
    return socket.getfqdn()


def default_identifier() -> str:
    """``"<fqdn>-<pid>"``, the default member identifier of old kazoo."""
    return f"{_fqdn()}-{os.getpid()}"


class Deadline:
    """A total time budget; ``left()`` is ``None`` when unbounded."""

    __slots__ = ("_end",)

    def __init__(self, timeout: float | None) -> None:
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
        self._end = None if timeout is None else time.monotonic() + max(0.0, float(timeout))

    def left(self) -> float | None:
        if self._end is None:
            return None
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end


class Signal:
    """Wake-up source of one recipe object: watch callbacks and a state listener.

    The event is made lazily by the recipe's flavour inside an operation (so an asyncio
    event belongs to the running loop). Callbacks may run on the handler's callback
    worker (blocking clients) or on the loop (asyncio); they only set the event.
    """

    def __init__(self, make_event: Callable[[], Any]) -> None:
        self._make_event = make_event
        self._event: Any = None
        self._armed: set[Any] = set()
        self._watchers: dict[Any, Callable[[Any], None]] = {}
        self.on_event: Callable[[Any], None] | None = None  # sees every watched event

    @property
    def event(self) -> Any:
        if self._event is None:
            self._event = self._make_event()
        return self._event

    def clear(self) -> None:
        self.event.clear()

    def wake(self, *_args: Any) -> None:
        """Set the event; usable as a state listener."""
        if self._event is not None:
            self._event.set()

    def watcher(self, key: Any) -> Callable[[Any], None]:
        """The stable one-shot watch callback for ``key``."""
        found = self._watchers.get(key)
        if found is None:

            def fired(event: Any, key: Any = key) -> None:
                self._armed.discard(key)
                if self.on_event is not None:
                    self.on_event(event)
                self.wake()

            found = self._watchers[key] = fired
        return found

    def arm(self, key: Any) -> Callable[[Any], None] | None:
        """The callback to pass as ``watch=``, or ``None`` while one is still pending."""
        if key in self._armed:
            return None
        self._armed.add(key)
        return self.watcher(key)

    def disarm(self, key: Any) -> None:
        self._armed.discard(key)


def watched(signal: Signal, fn: Callable[..., Any], path: str, key: Any = None) -> Steps[Any]:
    """``fn(path, watch=...)`` with at most one pending watch per key (default: fn, path)."""
    key = (getattr(fn, "__name__", fn), path) if key is None else key
    watch = signal.arm(key)
    try:
        result = yield Call(fn, path, watch=watch)
    except BaseException:
        if watch is not None:
            signal.disarm(key)  # no watch was left (NoNodeError) or it is uncertain
        raise
    return result


def connected(client: Any, signal: Signal, deadline: Deadline) -> Steps[bool]:
    """Wait until the client is connected; ``False`` when the budget ran out first.

    A stopped client counts as "go ahead": the next request raises ConnectionClosedError.
    ``signal.wake`` must be registered as a state listener by the caller.
    """
    while client.state != KazooState.CONNECTED and client.client_state not in _FINAL:
        signal.clear()
        if client.state == KazooState.CONNECTED or client.client_state in _FINAL:
            break
        left = deadline.left()
        if left is not None and left <= 0:
            return False
        yield Wait(signal.event, left)
    return True


def session_id(client: Any) -> int | None:
    client_id = client.client_id
    return None if client_id is None else int(client_id[0])


def owned(client: Any, stat: Any) -> bool:
    """The node described by ``stat`` is an ephemeral of the client's current session."""
    sid = session_id(client)
    return stat is not None and sid is not None and stat.ephemeralOwner == sid


def uncertain(exc: BaseException) -> bool:
    """A request that may or may not have been applied, on a client that still lives."""
    return isinstance(exc, (ConnectionLoss, SessionExpiredError)) and not isinstance(
        exc, ConnectionClosedError
    )


def ensure_ephemeral(client: Any, path: str, data: bytes, makepath: bool = False) -> Steps[None]:
    """Create the ephemeral ``path`` unless the current session already owns it.

    A node of that name owned by another (expired) session is replaced.
    """
    while True:
        try:
            yield Call(client.retry, client.create, path, data, ephemeral=True, makepath=makepath)
            return
        except NodeExistsError:
            pass  # ours from a cut-off attempt, or left over from an expired session
        stat = yield Call(client.retry, client.exists, path)
        if stat is None:
            continue
        if owned(client, stat):
            return
        try:
            yield Call(client.retry, client.delete, path, stat.version)
        except (NoNodeError, BadVersionError):
            pass


def delete_own(client: Any, path: str) -> Steps[bool]:
    """Delete the ephemeral ``path`` if the current session owns it (retried while the
    session lives); ``True`` if it was deleted."""
    try:
        stat = yield Call(client.retry, client.exists, path)
        if not owned(client, stat):
            return False
        yield Call(client.retry, client.delete, path, stat.version)
    except (NoNodeError, BadVersionError, ConnectionClosedError):
        return False
    return True


class Participation:
    """Mixin: a ``participating`` flag that is ``False`` once the session that made the
    member node has ended (LOST), even before the state listener has run."""

    client: Any
    _participating = False
    _joined_session: int | None = None

    @property
    def participating(self) -> bool:
        if not self._participating:
            return False
        client = self.client
        if client.state == KazooState.LOST:
            return False
        sid = session_id(client)
        return sid is None or sid == self._joined_session  # None: SUSPENDED

    @participating.setter
    def participating(self, value: bool) -> None:
        self._participating = bool(value)
        if value:
            self._joined_session = session_id(self.client)

    def _on_state(self, state: Any) -> None:
        """State listener: the member node is gone on LOST."""
        if state == KazooState.LOST:
            self._participating = False
