"""Connection policy shared by the blocking driver and the asyncio driver.

Pure decisions, no I/O: which addresses to try and in what order, how long each attempt
may take, how long to wait between connect passes, when to look for a read-write server,
how session events reach their receivers, and when a local watcher going away should
remove the server-side watch. Both I/O owners (:mod:`kazoo.handlers._driver` and
:mod:`kazoo.handlers._aio_driver`) call these, so the policy exists once.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from kazoo.protocol.session import EV_RESULT, EV_WATCH, Session
from kazoo.protocol.watches import WatchKind
from kazoo.retry import KazooRetry, RetryFailedError

Address = tuple[str, int]

#: Upper bound on the handshake of one attempt (ConnectResponse), in seconds.
HANDSHAKE_MAX = 2.0
#: Seconds before the first read-write probe while connected read-only, doubled up to
#: :data:`PROBE_MAX`.
PROBE_FIRST = 0.5
PROBE_MAX = 60.0
#: Random extra delay added to each later probe, in seconds.
PROBE_JITTER = 0.5


# -- addresses ---------------------------------------------------------------------------


def add_addresses(out: list[Address], infos: Iterable[Sequence[Any]]) -> None:
    """Append the ``(host, port)`` of each ``getaddrinfo`` entry not yet in ``out``."""
    for info in infos:
        sockaddr = info[4]
        address = (str(sockaddr[0]), int(sockaddr[1]))
        if address not in out:
            out.append(address)


def numeric_address(host: str, port: int) -> Address | None:
    """``(host, port)`` when ``host`` is an IP literal (no resolver needed), else ``None``."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (host, port)


def order_addresses(
    addresses: list[Address], randomize: bool, preferred: Address | None
) -> list[Address]:
    """The order of one connect pass: shuffled when ``randomize``; a read-write server
    found by a probe (``preferred``) goes first. Changes and returns ``addresses``."""
    if randomize:
        random.shuffle(addresses)
    if preferred is not None and preferred in addresses:
        addresses.remove(preferred)
        addresses.insert(0, preferred)
    return addresses


def connect_timeouts(session_timeout: float, count: int) -> tuple[float, float]:
    """``(per attempt, handshake)`` seconds: the session timeout shared by the addresses,
    and the handshake bounded by :data:`HANDSHAKE_MAX`."""
    per_host = session_timeout / max(count, 1)
    return per_host, min(per_host, HANDSHAKE_MAX)


# -- pacing --------------------------------------------------------------------------------


class Backoff:
    """Sleeps between connect passes, stepped by the client's ``connection_retry``.

    A fresh copy of the policy starts after every successful connection (:meth:`reset`).
    """

    __slots__ = ("_policy", "_retry")

    def __init__(self, policy: KazooRetry) -> None:
        self._policy = policy
        self._retry: KazooRetry | None = None

    def reset(self) -> None:
        self._retry = None

    def next_sleep(self) -> float | None:
        """Seconds to wait before the next pass, or ``None`` once the policy is used up."""
        if self._retry is None:
            self._retry = self._policy.copy()
            self._retry._begin()
        try:
            return self._retry._next_sleep()
        except RetryFailedError:
            return None


class ProbeSchedule:
    """When to ask the other servers ``isro`` while connected to a read-only one."""

    __slots__ = ("_wait", "next_at")

    def __init__(self, now: float) -> None:
        self._wait = PROBE_FIRST
        self.next_at = now + PROBE_FIRST

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def advance(self, now: float) -> None:
        """A probe round went by: the next one waits twice as long (jittered, capped)."""
        self._wait = min(self._wait * 2, PROBE_MAX)
        self.next_at = now + self._wait + random.uniform(0, PROBE_JITTER)


def probe_targets(addresses: Sequence[Address], current: Address | None) -> list[Address]:
    """The addresses a read-write probe asks: every one but the current server."""
    return [address for address in addresses if address != current]


def is_read_write(answer: str) -> bool:
    """True for an ``isro`` answer from a read-write server."""
    return answer.strip() == "rw"


# -- delivery --------------------------------------------------------------------------------


def deliver(
    session: Session,
    settle: Callable[[Any, Any, BaseException | None], Any],
    watch: Callable[[Any, Any], Any],
    state: Callable[[Any], Any],
) -> None:
    """Hand the session's pending events over, in order.

    ``settle(handle, value, exception)`` completes a request (handles of ``None`` are
    skipped: nobody waits for those), ``watch(watcher, event)`` fires a watch and
    ``state(keeper_state)`` announces a state change.
    """
    events = session.events
    if not events:
        return
    session.events = []
    for event in events:
        kind = event[0]
        if kind == EV_RESULT:
            if event[1] is not None:
                settle(event[1], event[2], event[3])
        elif kind == EV_WATCH:
            watch(event[1], event[2])
        else:
            state(event[1])


# -- watchers leaving ------------------------------------------------------------------------

#: WatcherType code (PROTOCOL.md §8.6) that removes each kind of watch on the server.
WATCHER_TYPE_OF_KIND = {
    WatchKind.DATA: 2,
    WatchKind.EXIST: 2,
    WatchKind.CHILD: 1,
    WatchKind.PERSISTENT: 4,
    WatchKind.PERSISTENT_RECURSIVE: 5,
}


def kinds_of_type(watcher_type: int) -> tuple[WatchKind, ...]:
    """The local watch kinds a WatcherType code (PROTOCOL.md §8.6) stands for."""
    if watcher_type == 3:  # ANY
        return tuple(WATCHER_TYPE_OF_KIND)
    kinds = tuple(k for k, code in WATCHER_TYPE_OF_KIND.items() if code == watcher_type)
    if not kinds:
        raise ValueError(f"watcher_type must be a WatcherType, not {watcher_type!r}")
    return kinds


def release_watcher(
    session: Session, watcher: Any, path: str, kinds: Sequence[WatchKind]
) -> list[int]:
    """Forget ``watcher``'s registrations of ``kinds`` on the server ``path``.

    Returns the WatcherType codes whose server-side watch should now be removed: a kind
    this watcher was registered for, with no local watcher of that type left on ``path``
    and no request in flight or queued that is arming one there (its reply would come
    before the removal's and the removal would silently undo it).
    """
    released = [kind for kind in kinds if session.watches.discard(kind, path, watcher)]
    types: list[int] = []
    for kind in released:
        code = WATCHER_TYPE_OF_KIND[kind]
        if code in types:
            continue
        same_type = [k for k, c in WATCHER_TYPE_OF_KIND.items() if c == code]
        if any(session.watches.count(k, path) for k in same_type):
            continue
        if _arming(session, path):
            continue
        types.append(code)
    return types


def path_unwatched(session: Session, path: str) -> bool:
    """True when no local watch of any kind is on ``path`` and none is being armed."""
    return not session.watches.has(path, 3) and not _arming(session, path)


def _arming(session: Session, path: str) -> bool:
    for pending in (*session.inflight, *session.queued):
        if pending.watch is not None and getattr(pending.request, "path", None) == path:
            return True
    return False
