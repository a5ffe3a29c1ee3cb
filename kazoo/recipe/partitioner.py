"""``SetPartitioner``: members of a group share out a set of items (API §2.10).

Layout: members join a :class:`~kazoo.recipe.party.ShallowParty` at ``path/party``; each
item a member owns is held by a :class:`~kazoo.recipe.lock.Lock` at
``path/locks/<str(item)>``.

How it moves between the :class:`PartitionState` states:

* ``ALLOCATING``: a :class:`~kazoo.recipe.watchers.PatientChildrenWatch` waits until the
  membership has not changed for ``time_boundary`` seconds; then a worker (spawned with the
  client's handler) works out this member's items with ``partition_func`` and takes their
  locks, each attempt waiting at most ``max_reaction_time`` seconds before it looks at the
  membership again. A change meanwhile drops the locks taken and starts over.
* ``ACQUIRED``: every lock is held. The next membership change (a real one: the watch
  survives a reconnect, so SUSPENDED alone changes nothing) moves to ``RELEASE``.
* ``RELEASE``: the locks are still held; the user calls :meth:`SetPartitioner.release_set`
  to drop them and allocate again.
* ``FAILURE``: the session was lost (the locks and the membership went with it), a
  ZooKeeper error stopped the allocation, or :meth:`SetPartitioner.finish` was called.
  Final: make a new partitioner.

Blocking client only (not offered in :mod:`kazoo.aio`). Callbacks never block: they only
change the state and wake or cancel the worker.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from kazoo.exceptions import (
    CancelledError,
    ConnectionClosedError,
    KazooException,
    LockTimeout,
)
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.states import KazooState
from kazoo.recipe._waiting import (
    check_path,
    default_identifier,
    ensure_open,
    join_path,
    session_id,
    uncertain,
)
from kazoo.recipe.lock import Lock
from kazoo.recipe.party import ShallowParty, shallow_identifier
from kazoo.recipe.watchers import PatientChildrenWatch

__all__ = ["PartitionState", "SetPartitioner", "default_partition"]

log = logging.getLogger(__name__)

PartitionFunc = Callable[[str, list[str], Any], Iterable[Any]]

#: How long ``finish()`` waits for a worker to give back the locks it was taking (on top
#: of ``max_reaction_time``, the longest a lock attempt may miss a cancel).
_WORKER_STOP = 10.0


class PartitionState:
    """The states of a :class:`SetPartitioner`."""

    ALLOCATING = "ALLOCATING"
    ACQUIRED = "ACQUIRED"
    RELEASE = "RELEASE"
    FAILURE = "FAILURE"


def default_partition(identifier: str, members: list[str], items: Any) -> list[Any]:
    """Sort the members and the items; member *i* of *n* gets the items ``[i::n]``."""
    members = sorted(members)
    if identifier not in members:
        return []
    return sorted(items)[members.index(identifier) :: len(members)]


def _check_item(locks_path: str, item: Any) -> None:
    """``str(item)`` must be a valid node name: it names the item's lock."""
    name = str(item)
    if "/" in name:
        raise ValueError(f"item {item!r} cannot name a lock node: it contains '/'")
    check_path(join_path(locks_path, name))


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")
    return float(value)


class SetPartitioner:
    """Share out ``set`` among the members at ``path`` (see the module documentation).

    ``partition_func(identifier, members, set)`` returns this member's items (default:
    :func:`default_partition`); ``identifier`` defaults to ``"<fqdn>-<pid>"``.
    ``state_change_event`` (default: a new handler event) is set on every change of
    ``state``; ``state_id`` counts the changes. Iterating yields the items owned.
    """

    def __init__(
        self,
        client: Any,
        path: str,
        set: Iterable[Any],  # noqa: A002 - the established argument name
        partition_func: PartitionFunc | None = None,
        identifier: str | None = None,
        time_boundary: float = 30,
        max_reaction_time: float = 1,
        state_change_event: Any = None,
    ) -> None:
        ensure_open(client)
        self.client = client
        self.path = check_path(path)
        self._set = tuple(set)
        self._locks_path = join_path(path, "locks")
        for item in self._set:
            _check_item(self._locks_path, item)
        self._partition_func = partition_func or default_partition
        self._identifier = identifier or default_identifier()
        self._time_boundary = _positive("time_boundary", time_boundary)
        self._max_reaction_time = _positive("max_reaction_time", max_reaction_time)
        handler = client.handler
        self.state_change_event = state_change_event or handler.event_object()
        self.state = PartitionState.ALLOCATING
        self.state_id = 0
        self._mutex = handler.lock_object()
        self._settled = handler.event_object()  # set while not ALLOCATING
        self._idle = handler.event_object()  # set while no worker runs
        self._idle.set()
        self._workers = 0
        self._round = 0  # bumped whenever a running allocation must stop
        self._pending: Lock | None = None  # the lock a worker is acquiring
        self._locks: list[Lock] = []
        self._partition_set: list[Any] = []
        self._party = ShallowParty(client, join_path(path, "party"), self._identifier)
        client.add_listener(self._on_session)
        self._join()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path!r} state={self.state}>"

    # -- the user's side ----------------------------------------------------------------

    @property
    def failed(self) -> bool:
        return self.state == PartitionState.FAILURE

    @property
    def release(self) -> bool:
        return self.state == PartitionState.RELEASE

    @property
    def allocating(self) -> bool:
        return self.state == PartitionState.ALLOCATING

    @property
    def acquired(self) -> bool:
        return self.state == PartitionState.ACQUIRED

    def __iter__(self) -> Iterator[Any]:
        """The items this member owns (empty unless ``ACQUIRED`` or ``RELEASE``)."""
        return iter(list(self._partition_set))

    def wait_for_acquire(self, timeout: float | None = 30) -> None:
        """Wait (at most ``timeout`` seconds) until the state is no longer ``ALLOCATING``."""
        self._settled.wait(timeout)

    def release_set(self) -> None:
        """Drop the locks and allocate again (from ``RELEASE`` or ``ACQUIRED``)."""
        with self._mutex:
            if self.state == PartitionState.FAILURE:
                return
            locks, round_ = self._stop_round()
            self._set_state(PartitionState.ALLOCATING)
        if self._release_all(locks):
            self._allocate(round_)
        else:
            self._fail()

    def finish(self) -> None:
        """Drop the locks, leave the group, and end in ``FAILURE``."""
        with self._mutex:
            locks, _round = self._stop_round()
            self._set_state(PartitionState.FAILURE)
        self.client.remove_listener(self._on_session)
        self._release_all(locks)
        self._idle.wait(_WORKER_STOP + self._max_reaction_time)
        self._leave()

    # -- state ----------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        """Change the state (``_mutex`` held): count it, settle waiters, set the event."""
        if self.state == state:
            return
        self.state = state
        self.state_id += 1
        if state == PartitionState.ALLOCATING:
            self._settled.clear()
        else:
            self._settled.set()
        self.state_change_event.set()

    def _stop_round(self) -> tuple[list[Lock], int]:
        """Stop the running allocation (``_mutex`` held); the locks held and the new round."""
        self._round += 1
        locks, self._locks = self._locks, []
        self._partition_set = []
        pending = self._pending
        if pending is not None:
            pending.cancel()
        return locks, self._round

    def _current(self, round_: int) -> bool:
        return self._round == round_ and self.state == PartitionState.ALLOCATING

    def _fail(self) -> None:
        """End in ``FAILURE`` and leave the group (in the background: may run in a
        callback). The locks have gone with the session, or were never committed."""
        with self._mutex:
            self._stop_round()
            self._set_state(PartitionState.FAILURE)
        self.client.remove_listener(self._on_session)
        self.client.handler.spawn(self._leave)

    def _on_session(self, state: KazooState) -> bool:
        if state == KazooState.LOST:
            self._fail()
            return True
        return False

    # -- joining and leaving ----------------------------------------------------------------

    def _join(self) -> None:
        try:
            self._party.join()
        except ConnectionClosedError:
            self.client.remove_listener(self._on_session)
            raise
        except KazooException:
            log.exception("SetPartitioner %s could not join %s", self.path, self._party.path)
            self._fail()
            return
        self._allocate(self._round)

    def _leave(self) -> None:
        try:
            self._party.leave()
        except KazooException:  # e.g. a closed client: its member node is gone anyway
            log.debug("SetPartitioner %s could not leave", self.path, exc_info=True)

    # -- allocating ---------------------------------------------------------------------

    def _allocate(self, round_: int) -> None:
        """Wait for a stable membership, then take the locks (round ``round_``)."""
        watch = PatientChildrenWatch(self.client, self._party.path, self._time_boundary)
        watch.start().rawlink(functools.partial(self._on_stable, round_))

    def _on_stable(self, round_: int, result: IAsyncResult[Any]) -> None:
        """The membership has been stable for ``time_boundary`` (completion worker)."""
        if not self._current(round_):
            return
        exc = result.exception
        if exc is not None:
            if uncertain(exc):
                self._allocate(round_)  # read again once the client has reconnected
                return
            log.error("SetPartitioner %s could not read the members: %r", self.path, exc)
            self._fail()
            return
        children, changed = result.get_nowait()
        session = session_id(self.client)
        changed.rawlink(functools.partial(self._members_changed, round_, session))
        with self._mutex:
            self._workers += 1
            self._idle.clear()
        self.client.handler.spawn(self._run_round, round_, list(children), changed)

    def _members_changed(self, round_: int, session: int | None, _result: Any) -> None:
        """The membership read for round ``round_`` changed (completion worker)."""
        if session_id(self.client) != session:
            return  # the watch went with the session: LOST decides
        with self._mutex:
            if self._round != round_:
                return
            if self.state == PartitionState.ACQUIRED:
                self._set_state(PartitionState.RELEASE)
            elif self.state == PartitionState.ALLOCATING and self._pending is not None:
                self._pending.cancel()  # look at the membership again now

    def _run_round(self, round_: int, children: list[str], changed: IAsyncResult[Any]) -> None:
        """Worker: take this member's locks; ``ACQUIRED``, or start over if the membership
        changed meanwhile."""
        held: list[Lock] = []
        restart = False
        try:
            members = [shallow_identifier(name) for name in children]
            items = list(self._partition_func(self._identifier, members, self._set))
            if self._take_all(round_, changed, items, held):
                self._commit(round_, changed, items, held)
            restart = self._current(round_)
        except Exception as exc:  # noqa: BLE001 - ends in FAILURE, never kills the worker
            if self._current(round_) and not isinstance(exc, ConnectionClosedError):
                log.exception("SetPartitioner %s could not allocate", self.path)
            if self._round == round_:
                self._fail()
        finally:
            self._release_all(held)
            with self._mutex:
                self._workers -= 1
                if not self._workers:
                    self._idle.set()
        if restart:
            self._allocate(round_)

    def _take_all(
        self, round_: int, changed: IAsyncResult[Any], items: list[Any], held: list[Lock]
    ) -> bool:
        for item in items:
            path = join_path(self._locks_path, str(item))
            lock = Lock(self.client, path, self._identifier)
            if not self._take(round_, changed, lock):
                return False
            held.append(lock)
        return True

    def _take(self, round_: int, changed: IAsyncResult[Any], lock: Lock) -> bool:
        """Acquire ``lock``, looking at the membership at least every ``max_reaction_time``
        seconds; ``False`` once the allocation is stale."""
        while True:
            with self._mutex:
                if not self._current(round_) or changed.ready():
                    return False
                self._pending = lock
            try:
                if lock.acquire(timeout=self._max_reaction_time):
                    return True
            except (LockTimeout, CancelledError):
                pass
            finally:
                self._pending = None

    def _commit(
        self, round_: int, changed: IAsyncResult[Any], items: list[Any], held: list[Lock]
    ) -> None:
        with self._mutex:
            if not self._current(round_) or changed.ready():
                return  # the membership changed meanwhile: the caller starts over
            self._locks, self._partition_set = list(held), items
            held.clear()
            self._set_state(PartitionState.ACQUIRED)

    def _release_all(self, locks: list[Lock]) -> bool:
        """Release ``locks``; ``False`` if one could not be released."""
        released = True
        for lock in locks:
            try:
                lock.release()
            except KazooException:
                log.warning("SetPartitioner %s could not release %s", self.path, lock.path)
                released = False
        locks.clear()
        return released
