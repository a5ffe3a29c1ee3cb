"""Session states, event types and the records watch callbacks receive."""

from __future__ import annotations

import enum
from typing import Any, Callable, NamedTuple


class _StrEnum(str, enum.Enum):
    """A str-enum whose members equal, hash and print as their own name."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.value}>"

    __hash__ = str.__hash__


class KazooState(_StrEnum):
    """What an application needs to know about its session."""

    SUSPENDED = "SUSPENDED"
    CONNECTED = "CONNECTED"
    LOST = "LOST"


class KeeperState(_StrEnum):
    """The client's detailed connection state, as ZooKeeper names it."""

    AUTH_FAILED = "AUTH_FAILED"
    CONNECTED = "CONNECTED"
    CONNECTED_RO = "CONNECTED_RO"
    CONNECTING = "CONNECTING"
    CLOSED = "CLOSED"
    EXPIRED_SESSION = "EXPIRED_SESSION"


class EventType(_StrEnum):
    """The kind of change a watch reports."""

    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"
    NONE = "NONE"


EVENT_TYPE_MAP = {
    -1: EventType.NONE,
    1: EventType.CREATED,
    2: EventType.DELETED,
    3: EventType.CHANGED,
    4: EventType.CHILD,
}

#: The one place that maps the detailed state to what applications see.
KEEPER_TO_KAZOO_STATE = {
    KeeperState.CONNECTING: KazooState.SUSPENDED,
    KeeperState.CONNECTED: KazooState.CONNECTED,
    KeeperState.CONNECTED_RO: KazooState.CONNECTED,
    KeeperState.EXPIRED_SESSION: KazooState.LOST,
    KeeperState.AUTH_FAILED: KazooState.LOST,
    KeeperState.CLOSED: KazooState.LOST,
}


class AddWatchMode(enum.IntEnum):
    """Modes of :meth:`KazooClient.add_watch`."""

    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class WatcherType(enum.IntEnum):
    """Kinds of watch :meth:`KazooClient.remove_all_watches` removes."""

    CHILDREN = 1
    DATA = 2
    ANY = 3
    PERSISTENT = 4
    PERSISTENT_RECURSIVE = 5


class WatchedEvent(NamedTuple):
    """What a watch callback receives: ``(type, state, path)``."""

    type: EventType
    state: KeeperState
    path: str | None


class Callback(NamedTuple):
    """A callback a handler runs as ``func(*args)``; ``type`` is ``"watch"``."""

    type: str
    func: Callable[..., Any]
    args: tuple[Any, ...]


class ZnodeStat(NamedTuple):
    """The metadata of a znode (times in ms since the epoch)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int

    @property
    def acl_version(self) -> int:
        return self.aversion

    @property
    def children_version(self) -> int:
        return self.cversion

    @property
    def created(self) -> float:
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> int | None:
        return self.ephemeralOwner or None

    @property
    def creation_transaction_id(self) -> int:
        return self.czxid

    @property
    def last_modified_transaction_id(self) -> int:
        return self.mzxid

    @property
    def data_length(self) -> int:
        return self.dataLength

    @property
    def children_count(self) -> int:
        return self.numChildren


def to_kazoo_state(keeper: KeeperState, previous: KazooState) -> KazooState:
    """The application state for a new client state.

    Reconnecting after LOST (a new session being made) stays LOST until the
    new session is up; reconnecting a live session is SUSPENDED.
    """
    if keeper is KeeperState.CONNECTING and previous is KazooState.LOST:
        return KazooState.LOST
    return KEEPER_TO_KAZOO_STATE[keeper]
