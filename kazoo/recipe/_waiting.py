"""What every recipe shares (API §2.9): one version of each, used by all of them.

Everything that talks to ZooKeeper or waits is written as runtime steps (see
:mod:`kazoo.recipe._runtime`), so it serves the blocking and the asyncio flavour alike.

The client
    :func:`ensure_open` / :class:`Guarded` (a stopped or never-started client raises
    ``ConnectionClosedError`` at once), :func:`check_path`, :func:`default_identifier`,
    :func:`session_id`, :func:`owned` ("is this ephemeral node ours", judged by the current
    session id) and :func:`uncertain` (a request that may or may not have been applied).
Budgets and waits
    :class:`Deadline` (a ``timeout=`` as one total budget across all the waits of a call),
    :func:`wait_for`, :func:`wait_connected` (wait within the budget for the client to be
    connected again instead of blocking in a request queued while SUSPENDED),
    :class:`Signal` (the event a recipe waits on, arming at most one one-shot watch per key at
    a time, so repeated calls never pile watches up), :func:`watched` and :func:`poll` (look,
    wait for a change, look again -- disconnect-safe, within the budget).
Nodes
    :func:`create_node` (create, making missing parents), :func:`ensure_ephemeral`,
    :func:`delete_own`, :func:`read_identifiers`, and :class:`Participation` (a member flag
    that turns ``False`` when the session that made the member node has ended).
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
    KazooException,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.paths import validate_path
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.recipe._runtime import Call, Steps, Wait

__all__ = [
    "LOSS_PAUSE",
    "Deadline",
    "Guarded",
    "Participation",
    "Signal",
    "check_path",
    "create_node",
    "default_identifier",
    "delete_own",
    "ensure_ephemeral",
    "ensure_open",
    "join_path",
    "list_children",
    "owned",
    "poll",
    "read_identifiers",
    "reconnecting",
    "session_id",
    "uncertain",
    "wait_connected",
    "wait_for",
    "watched",
]

#: Client states in which waiting for a connection is pointless: the next call fails at once.
_FINAL = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)
#: Pause after a ConnectionLoss before looking again (the state change usually follows).
LOSS_PAUSE = 0.1


# -- the client ------------------------------------------------------------------------------


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
    path: str
    _check_client: Callable[[Any], None]

    def _bind(self, client: Any, path: str) -> None:
        """Check that ``client`` suits the flavour and ``path`` is valid; keep both."""
        self._check_client(client)
        self.client = client
        self.path = check_path(path)

    def _run(self, steps: Steps[Any]) -> Any:
        return super()._run(_guarded(self.client, steps))  # type: ignore[misc]


def join_path(parent: str, name: str) -> str:
    """``parent/name`` (``/name`` under the root)."""
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


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


def session_id(client: Any) -> int | None:
    """The current session id, or ``None`` while there is no live session."""
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


# -- budgets and waits -----------------------------------------------------------------------


class Deadline:
    """A total time budget, on the monotonic clock; ``left()`` is ``None`` when unbounded."""

    __slots__ = ("_end",)

    def __init__(self, timeout: float | None) -> None:
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
        self._end = None if timeout is None else time.monotonic() + max(0.0, float(timeout))

    def left(self) -> float | None:
        """Seconds left (never negative), or ``None`` when unbounded."""
        if self._end is None:
            return None
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def pause(self, seconds: float) -> float:
        """``seconds``, cut to what is left."""
        left = self.left()
        return seconds if left is None else min(seconds, left)


def wait_for(event: Any, timeout: float | None) -> Steps[bool]:
    """Steps: ``True`` once ``event`` is set, ``False`` when ``timeout`` ran out first."""
    if event.is_set():
        return True
    if timeout is not None and timeout <= 0:
        return False
    return bool((yield Wait(event, timeout)))


def reconnecting(client: Any) -> bool:
    """Not connected, but not closed either (nor failed authentication): a connection may
    come back, and a request sent now would wait for it."""
    return not client.connected and client.client_state not in _FINAL


def wait_connected(
    client: Any, wake: Any, deadline: Deadline, check: Callable[[], None] | None = None
) -> Steps[bool]:
    """Steps: wait while the client is reconnecting (``wake`` is set on state changes: the
    caller registers a state listener that sets it).

    ``True`` when connected, or when the client is closed or failed authentication (the next
    request then raises at once); ``False`` when the budget ran out first. ``check()`` runs
    after every reset of ``wake`` (it raises to stop the wait, e.g. on a cancel).
    """
    while reconnecting(client):
        wake.clear()
        if check is not None:
            check()
        if not reconnecting(client):
            break
        if not (yield from wait_for(wake, deadline.left())):
            return False
    return True


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


def poll(
    client: Any, signal: Signal, deadline: Deadline, look: Callable[[], Steps[Any]]
) -> Steps[Any]:
    """Steps: run ``look()`` until it gives something other than ``None`` and return that;
    ``None`` when the budget ran out first.

    Before each look it waits (within the budget) for a connection; between looks it waits
    for ``signal`` (set by the watches ``look`` armed and by a state listener the caller
    registered; ``look`` calls ``signal.wake()`` to look again at once). A request that
    failed with the outcome unknown (:func:`uncertain`) is simply looked at again.
    """
    while True:
        signal.clear()
        if not (yield from wait_connected(client, signal.event, deadline)):
            return None
        try:
            found = yield from look()
        except KazooException as exc:
            if not uncertain(exc):
                raise
            continue
        if found is not None:
            return found
        if not (yield from wait_for(signal.event, deadline.left())):
            return None


# -- nodes -----------------------------------------------------------------------------------


def create_node(
    client: Any,
    path: str,
    value: bytes = b"",
    retry: bool = False,
    limit: float | None = None,
    **options: Any,
) -> Steps[str]:
    """Steps: ``client.create(path, value, **options)``, making missing parents first;
    through ``client.retry`` when ``retry`` is true, else each request waiting at most
    ``limit`` seconds for its reply (:meth:`Call.within`). Returns the created path.

    The parent usually exists, so the plain create comes first. (Not ``makepath=True``:
    the client's multi-step ``makepath`` does not fail at once on a client that was never
    started; a plain create raises ``ConnectionClosedError`` at once.)
    """
    parent = path.rsplit("/", 1)[0] or "/"
    while True:
        try:
            if retry:
                return (yield Call(client.retry, client.create, path, value, **options))
            return (yield Call.within(limit, client.create, path, value, **options))
        except NoNodeError:
            pass
        if retry:
            yield Call(client.retry, client.ensure_path, parent)
        else:
            yield Call.within(limit, client.ensure_path, parent)


def ensure_ephemeral(client: Any, path: str, data: bytes) -> Steps[None]:
    """Create the ephemeral ``path`` (and missing parents) unless the current session already
    owns it. A node of that name owned by another (expired) session is replaced."""
    while True:
        try:
            yield from create_node(client, path, data, retry=True, ephemeral=True)
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


def delete_own(client: Any, path: str, data: bytes | None = None) -> Steps[bool]:
    """Delete the ephemeral ``path`` if the current session owns it (and, when ``data`` is
    given, it holds ``data``), retried while the session lives; ``True`` if it was deleted.
    Once the client is closed its ephemerals are gone anyway: ``False``."""
    try:
        if data is None:
            stat = yield Call(client.retry, client.exists, path)
        else:
            found, stat = yield Call(client.retry, client.get, path)
            if found != data:
                return False
        if not owned(client, stat):
            return False
        yield Call(client.retry, client.delete, path, stat.version)
    except (NoNodeError, BadVersionError, ConnectionClosedError):
        return False
    return True


def list_children(client: Any, path: str) -> Steps[list[str]]:
    """Steps: the children of ``path`` (through ``client.retry``); ``[]`` when it is absent."""
    try:
        return list((yield Call(client.retry, client.get_children, path)))
    except NoNodeError:
        return []


def read_identifiers(client: Any, parent: str, names: list[str]) -> Steps[list[str]]:
    """Steps: the data of ``parent/<name>`` for each name as text (vanished nodes skipped)."""
    identifiers = []
    for name in names:
        try:
            data, _stat = yield Call(client.retry, client.get, parent + "/" + name)
        except NoNodeError:
            continue
        identifiers.append((data or b"").decode("utf-8", "replace"))
    return identifiers


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
