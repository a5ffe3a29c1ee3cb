"""The client-side watch table: who to call for which server event.

Pure bookkeeping for the single I/O owner: no threads, no locks, no I/O. Every path stored
here is a **server path** (chroot already applied); watchers are opaque hashable objects
(normally callables), deduplicated by equality.

Rules (PROTOCOL.md §8.3-8.5, API.md §2.1.4 and §3.1):

* One-shot kinds (``DATA``, ``EXIST``, ``CHILD``) are removed when an event returns them.
  NodeCreated and NodeDataChanged go to data + exist watchers, NodeChildrenChanged to child
  watchers, NodeDeleted to all three.
* ``PERSISTENT`` watchers get every event for exactly their path and stay.
* ``PERSISTENT_RECURSIVE`` watchers get NodeCreated / NodeDataChanged / NodeDeleted for
  their path and every descendant (never NodeChildrenChanged) and stay.
* After a reconnect all paths are re-registered with SetWatches (101) or SetWatches2 (105),
  split into batches of about 128 KiB of path characters (:meth:`set_watches_batches`).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterator
from operator import itemgetter
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "SET_WATCHES_MAX_BYTES",
    "WatchBatch",
    "WatchKind",
    "WatchRegistry",
]

W = TypeVar("W", bound=Hashable)

#: Summed path length (characters) at which a SetWatches batch is closed (Java client rule).
SET_WATCHES_MAX_BYTES = 128 * 1024


class WatchKind(enum.IntEnum):
    """Client-side kinds of watch registration."""

    DATA = 1
    """getData(watch) on an existing node, or exists(watch) on an existing node."""
    EXIST = 2
    """exists(watch) on a missing node."""
    CHILD = 3
    """getChildren / getChildren2 (watch)."""
    PERSISTENT = 4
    """addWatch mode 0 (PERSISTENT)."""
    PERSISTENT_RECURSIVE = 5
    """addWatch mode 1 (PERSISTENT_RECURSIVE)."""


_CREATED, _DELETED, _CHANGED, _CHILD = 1, 2, 3, 4

#: Wire EventType code -> one-shot kinds it consumes on the event's own path.
_ONE_SHOT_BY_EVENT: dict[int, tuple[WatchKind, ...]] = {
    _CREATED: (WatchKind.DATA, WatchKind.EXIST),
    _CHANGED: (WatchKind.DATA, WatchKind.EXIST),
    _DELETED: (WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD),
    _CHILD: (WatchKind.CHILD,),
}

#: Wire WatcherType code (PROTOCOL.md §8.6) -> kinds it selects.
_KINDS_BY_WATCHER_TYPE: dict[int, tuple[WatchKind, ...]] = {
    1: (WatchKind.CHILD,),
    2: (WatchKind.DATA, WatchKind.EXIST),
    3: tuple(WatchKind),
    4: (WatchKind.PERSISTENT,),
    5: (WatchKind.PERSISTENT_RECURSIVE,),
}

#: Order in which SetWatches lists are filled (data, exist, child, persistent, recursive).
_SET_WATCHES_ORDER: tuple[WatchKind, ...] = (
    WatchKind.DATA,
    WatchKind.EXIST,
    WatchKind.CHILD,
    WatchKind.PERSISTENT,
    WatchKind.PERSISTENT_RECURSIVE,
)


class WatchBatch(NamedTuple):
    """Server paths to re-register in one SetWatches / SetWatches2 packet."""

    data: list[str]
    exist: list[str]
    child: list[str]
    persistent: list[str]
    persistent_recursive: list[str]

    @property
    def needs_v2(self) -> bool:
        """True when the batch must go as SetWatches2 (105) rather than SetWatches (101)."""
        return bool(self.persistent or self.persistent_recursive)


def _self_and_ancestors(path: str) -> Iterator[str]:
    """Yield ``path``, its parent, ..., ``/`` (``/a/b`` -> ``/a/b``, ``/a``, ``/``)."""
    yield path
    while len(path) > 1:
        cut = path.rfind("/")
        if cut < 0:
            return
        path = path[:cut] if cut > 0 else "/"
        yield path


def _unique_in_order(hits: list[tuple[int, W]]) -> list[W]:
    """Watchers of ``(seq, watcher)`` hits sorted by registration, each once."""
    if len(hits) == 1:
        return [hits[0][1]]
    hits.sort(key=itemgetter(0))
    return list(dict.fromkeys(watcher for _, watcher in hits))


def _kinds_for(watcher_type: int) -> tuple[WatchKind, ...]:
    try:
        return _KINDS_BY_WATCHER_TYPE[int(watcher_type)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"unknown WatcherType {watcher_type!r} (expected 1-5)") from None


class WatchRegistry(Generic[W]):
    """Local watch registrations, keyed by kind and server path.

    A *registration* is one ``(kind, path, watcher)`` triple; adding the same triple twice
    keeps the first one (and its place in registration order).
    """

    __slots__ = ("_seq", "_size", "_tables")

    def __init__(self) -> None:
        # kind -> path -> {watcher: registration sequence number}. A kind's table is made
        # by its first watch (an idle client keeps none) and empty inner dicts are never
        # kept, so ``bool(self._table(kind))`` says whether the kind has any watch.
        self._tables: dict[WatchKind, dict[str, dict[W, int]]] = {}
        self._seq = 0
        self._size = 0

    def __len__(self) -> int:
        """Number of registrations."""
        return self._size

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{kind.name.lower()}={sum(map(len, self._table(kind).values()))}"
            for kind in WatchKind
        )
        return f"<{type(self).__name__} {counts}>"

    def _table(self, kind: WatchKind) -> dict[str, dict[W, int]]:
        """The table of ``kind`` for reading and removing (a fresh empty one if it has none)."""
        return self._tables.get(kind) or {}

    def add(self, kind: WatchKind, path: str, watcher: W) -> None:
        """Register ``watcher`` for ``kind`` on ``path``; a repeat registration counts once."""
        entries = self._tables.setdefault(WatchKind(kind), {}).setdefault(path, {})
        if watcher not in entries:
            self._seq += 1
            entries[watcher] = self._seq
            self._size += 1

    def fire(self, event_type: int, path: str) -> list[W]:
        """Watchers to call for a server notification, removing the one-shot ones.

        ``event_type`` is the wire EventType code (1 created, 2 deleted, 3 changed,
        4 children changed) and ``path`` the server path. The result is in registration
        order, each watcher at most once. Any other code matches no watcher and returns
        ``[]`` (the registry is left unchanged).
        """
        one_shot = _ONE_SHOT_BY_EVENT.get(event_type)
        if one_shot is None:
            return []
        hits: list[tuple[int, W]] = []
        for kind in one_shot:
            entries = self._table(kind).pop(path, None)
            if entries:
                self._size -= len(entries)
                hits.extend((seq, w) for w, seq in entries.items())
        persistent = self._table(WatchKind.PERSISTENT).get(path)
        if persistent:
            hits.extend((seq, w) for w, seq in persistent.items())
        recursive = self._table(WatchKind.PERSISTENT_RECURSIVE)
        if recursive and event_type != _CHILD:
            for node in _self_and_ancestors(path):
                entries = recursive.get(node)
                if entries:
                    hits.extend((seq, w) for w, seq in entries.items())
        return _unique_in_order(hits) if hits else []

    def remove(self, path: str, watcher_type: int) -> list[W]:
        """Drop every watch of a WatcherType on ``path``; return the removed watchers.

        ``watcher_type``: 1 children, 2 data (data + exist), 3 any (all kinds, persistent
        included), 4 persistent, 5 persistent recursive; anything else raises ``ValueError``.
        The result is in registration order, each watcher once; the caller does not call
        them. An empty result means there was no matching local watch.
        """
        hits: list[tuple[int, W]] = []
        for kind in _kinds_for(watcher_type):
            entries = self._table(kind).pop(path, None)
            if entries:
                self._size -= len(entries)
                hits.extend((seq, w) for w, seq in entries.items())
        return _unique_in_order(hits) if hits else []

    def has(self, path: str, watcher_type: int) -> bool:
        """True if a local watch of that WatcherType (see :meth:`remove`) exists on ``path``."""
        return any(path in self._table(kind) for kind in _kinds_for(watcher_type))

    def discard(self, kind: WatchKind, path: str, watcher: W) -> bool:
        """Remove one registration; True if it was there. Says nothing about the server."""
        table = self._table(WatchKind(kind))
        entries = table.get(path)
        if entries is None or watcher not in entries:
            return False
        del entries[watcher]
        if not entries:
            del table[path]
        self._size -= 1
        return True

    def count(self, kind: WatchKind, path: str) -> int:
        """Number of local watchers of ``kind`` on ``path``."""
        return len(self._table(WatchKind(kind)).get(path, ()))

    def registrations(self, *kinds: WatchKind) -> list[tuple[W, WatchKind, str]]:
        """``(watcher, kind, path)`` for every registration of ``kinds`` (default: all).

        In registration order; the registry is not changed. After a reconnect the caller
        uses ``registrations(PERSISTENT, PERSISTENT_RECURSIVE)`` to tell each persistent
        watcher its watch was re-armed (API.md §3.1).
        """
        rows: list[tuple[int, W, WatchKind, str]] = []
        for kind in kinds or tuple(WatchKind):
            for path, entries in self._table(WatchKind(kind)).items():
                rows.extend((seq, w, kind, path) for w, seq in entries.items())
        rows.sort(key=itemgetter(0))
        return [(w, kind, path) for _, w, kind, path in rows]

    def drain(self) -> list[tuple[W, WatchKind, str]]:
        """Empty the registry and return ``(watcher, kind, path)`` for every registration.

        Used at session end (LOST). The list has one entry per registration, in
        registration order, so a watcher registered for several kinds or paths appears
        several times; the caller decides how to notify. Per API.md §2.1.4 it calls each
        registration once with ``WatchedEvent(EventType.NONE, <state>, None)``.
        """
        rows = self.registrations()
        self._tables.clear()
        self._size = 0
        return rows

    def set_watches_batches(self, max_bytes: int = SET_WATCHES_MAX_BYTES) -> list[WatchBatch]:
        """Split every watched path into batches for re-registration after a reconnect.

        Walks data, exist, child, persistent, then persistent-recursive paths (each distinct
        path once per kind, in the order the path was first watched), appending to the
        current batch until the summed path length in characters reaches ``max_bytes``; the
        path that reaches or crosses the limit stays in that batch and a new batch starts.
        No watches -> ``[]``. A batch whose :attr:`WatchBatch.needs_v2` is True must be sent
        as SetWatches2 (105), otherwise as SetWatches (101).
        """
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes!r}")
        batches: list[WatchBatch] = []
        current = WatchBatch([], [], [], [], [])
        total = 0
        for kind in _SET_WATCHES_ORDER:
            for path in self._table(kind):
                current[kind - 1].append(path)
                total += len(path)
                if total >= max_bytes:
                    batches.append(current)
                    current = WatchBatch([], [], [], [], [])
                    total = 0
        if any(current):
            batches.append(current)
        return batches
