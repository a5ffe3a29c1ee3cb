"""The ``Semaphore`` algorithm (API §2.10); the classes are in :mod:`kazoo.recipe.lock`.

Layout: ``path`` holds ``max_leases`` as ASCII decimal (written by whoever creates it);
leases are ephemeral ``path/<uuid4 hex>`` nodes holding the identifier. Acquisition is
serialised by a ``Lock`` at ``path + "-__lock__"``: only its holder looks at (and watches) the
lease list, and it creates its lease in a transaction that also checks that its lock node
still exists, so a holder whose session ended meanwhile can never add a lease too many.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.protocol.states import KazooState
from kazoo.recipe._lockbase import Contender, HeldNode, Steps
from kazoo.recipe._runtime import Call, op
from kazoo.recipe._waiting import (
    check_path,
    create_node,
    ensure_open,
    list_children,
    owned,
    read_identifiers,
    wait_for,
)

log = logging.getLogger("kazoo.recipe.lock")


class _Lease(Contender):
    """State of one ``acquire`` call: the lease node ``parent/name``."""

    __slots__ = ("parent", "lock_lost")

    def __init__(self, parent: str, wake: Any, timeout: float | None) -> None:
        super().__init__(uuid.uuid4().hex, wake, timeout)
        self.parent = parent
        self.lock_lost = False  # the serialising lock has to be taken again

    @property
    def path(self) -> str:
        return f"{self.parent}/{self.name}"

    def renew(self) -> None:
        self.name = uuid.uuid4().hex
        self.unsure = False

    def lose_lock(self) -> None:
        self.lock_lost = True


class _SemaphoreCore(HeldNode):
    """The semaphore algorithm; combined with :class:`Blocking` or :class:`Async`, and
    ``_lock_class`` (the Lock class of the same flavour)."""

    _lock_class: Any

    def __init__(self, client: Any, path: str, identifier: Any = None, max_leases: int = 1):
        self._check_client(client)  # type: ignore[attr-defined]
        if isinstance(max_leases, bool) or not isinstance(max_leases, int):
            raise TypeError(f"max_leases must be an int, not {type(max_leases).__name__}")
        if max_leases < 1:
            raise ValueError(f"max_leases must be at least 1, not {max_leases}")
        self.client = client
        self.path = check_path(path)
        self.identifier = identifier
        self.data = str(identifier or "").encode("utf-8")
        self.max_leases = max_leases
        self.lock_path = path + "-__lock__"
        self._kind = "semaphore"
        self.cancelled = False
        self._lock = self._lock_class(client, self.lock_path, identifier)
        self._lock.add_listener(self._lock_state)
        self._init_held()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} path={self.path!r} max_leases={self.max_leases} "
            f"acquired={self.is_acquired}>"
        )

    def cancel(self) -> None:
        """Make a blocked ``acquire()`` stop with ``CancelledError``."""
        self.cancelled = True
        self._lock.cancel()
        if self._wake is not None:
            self._wake.set()

    def _lock_state(self, state: KazooState) -> None:
        """Listener of the serialising lock: wake the waiting ``acquire`` when it is lost."""
        if state == KazooState.LOST and self._wake is not None:
            self._wake.set()

    def _acquire(self, blocking: bool = True, timeout: float | None = None) -> Steps:
        """Take a lease; ``True`` when held (at once if this object already holds one).

        ``timeout`` is a total budget: ``LockTimeout`` when it runs out while waiting,
        ``False`` when it went on connection trouble. ``ValueError`` when ``path`` stores a
        different number of leases.
        """
        ensure_open(self.client)
        self.cancelled = self._lock.cancelled = False
        if self.is_acquired:
            return True
        wake = self._wake = self._event()
        lease = _Lease(self.path, wake, timeout)
        self.client.add_listener(self._on_session)

        def give_up() -> Steps:
            if lease.unsure:
                yield from self._remove_node(self.path, lease.name, str(lease.name), True)

        def finish(got: bool) -> None:
            self._wake = None
            if not got:
                self.client.remove_listener(self._on_session)

        steps = self._under_lock(lease, blocking)
        return (yield from self._guarded(steps, give_up, finish))

    acquire = op(_acquire)

    def _hold_ended(self) -> None:
        self.client.remove_listener(self._on_session)

    def _under_lock(self, lease: _Lease, blocking: bool) -> Steps:
        if not (yield from self._rounds(lease, lambda: self._check_leases_node(lease))):
            return False
        if not (yield from self._lock._acquire_steps(blocking, lease.deadline.left(), True)):
            return False
        try:
            look = lambda: self._lease_round(lease, blocking)  # noqa: E731
            got = yield from self._rounds(lease, look, lease.lose_lock)
        except GeneratorExit:
            raise
        except BaseException:
            yield from self._unlock()
            raise
        yield from self._unlock()
        return got

    def _unlock(self) -> Steps:
        try:
            yield from self._lock._release()
        except Exception:  # noqa: BLE001 - the node is ephemeral; it ends with the session
            log.warning("could not release the semaphore lock %s", self.lock_path, exc_info=True)

    def _check_leases_node(self, lease: _Lease) -> Steps:
        """Create ``path`` holding ``max_leases``, or check the number stored there;
        ``True`` when done."""
        value = str(self.max_leases).encode("ascii")
        try:
            yield from create_node(self.client, self.path, value, limit=lease.limit())
            return True
        except NodeExistsError:
            pass
        try:
            data, _stat = yield Call.within(lease.limit(), self.client.get, self.path)
        except NoNodeError:
            return True
        if data and data.isdigit() and int(data) != self.max_leases:
            raise ValueError(
                f"the semaphore {self.path} has max_leases {int(data)}, "
                f"this object was given {self.max_leases}"
            )
        return True

    def _lease_round(self, lease: _Lease, blocking: bool) -> Steps:
        """One look: ``True`` leased, ``False`` full (non-blocking), ``None`` look again."""
        if lease.lock_lost:  # our lock node went with the session: queue up again
            lease.lock_lost = False
            yield from self._unlock()
            if not (yield from self._lock._acquire_steps(blocking, lease.deadline.left(), True)):
                return False
        lease.wake.clear()
        self._check_cancelled()  # after the clear: a cancel() from now on sets `wake` again
        if not self._lock.is_acquired:
            lease.lock_lost = True
            return None
        try:
            children = yield Call.within(
                lease.limit(), self.client.get_children, self.path, watch=lease.on_watch
            )
        except NoNodeError:
            yield from self._check_leases_node(lease)
            return None
        if lease.unsure:
            lease.unsure = False
            if lease.name in children:
                return (yield from self._take(lease))
        if len(children) < self.max_leases:
            return (yield from self._create_lease(lease))
        if not blocking:
            return False
        if not (yield from wait_for(lease.wake, lease.deadline.left())):
            raise self._timed_out(lease)
        return None

    def _create_lease(self, lease: _Lease) -> Steps:
        lock_node = self._lock.node
        if lock_node is None:
            lease.lock_lost = True
            return None
        transaction = self.client.transaction()
        transaction.check(self.lock_path + "/" + lock_node, -1)
        transaction.create(lease.path, self.data, ephemeral=True)
        lease.unsure = True
        checked, created = yield Call.within(lease.limit(), transaction.commit)
        lease.unsure = False
        if not isinstance(created, Exception):
            return (yield from self._take(lease))
        if isinstance(checked, NoNodeError):
            lease.lock_lost = True
        elif isinstance(created, NodeExistsError):
            lease.renew()
        elif not isinstance(created, NoNodeError):  # NoNode: `path` was deleted; look again
            raise created
        return None

    def _take(self, lease: _Lease) -> Steps:
        stat = yield Call.within(lease.limit(), self.client.exists, lease.path)
        if stat is None:
            lease.renew()
            return None
        if not owned(self.client, stat):
            if self.client.client_id is None:
                lease.unsure = True  # disconnected again: decide once connected
            else:
                lease.renew()  # a node of an ended session: not ours any more
            return None
        self._start_hold(lease.path, stat, True)
        return True

    def _lease_holders(self) -> Steps:
        """Identifiers of the lease holders, unordered (``[]`` if ``path`` is missing)."""
        children = yield from list_children(self.client, self.path)
        return (yield from read_identifiers(self.client, self.path, children))

    lease_holders = op(_lease_holders)
