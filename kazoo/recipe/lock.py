"""Locks: ``Lock``, ``ReadLock``, ``WriteLock`` and ``Semaphore`` (API §2.10, §3.4).

One contender algorithm serves the three lock kinds; they differ only in the marker of their
node and in which markers block them:

===========  =====================================  ==================================
kind         node                                   blocked by lower-sequenced
===========  =====================================  ==================================
Lock         ``path/<uuid4 hex>__lock__<seq>``      ``__lock__`` + ``extra_lock_patterns``
WriteLock    ``path/<uuid4 hex>__lock__<seq>``      ``__lock__``, ``__rlock__`` (+ extra)
ReadLock     ``path/<uuid4 hex>__rlock__<seq>``     ``__lock__`` (+ extra)
===========  =====================================  ==================================

A contender creates its ephemeral-sequential node, lists the children, and either holds the
lock (no blocking node sorts before its own, by ``seq % 2**32``) or watches its predecessor
only (the nearest blocking node before it) and looks again when that changes or the
connection state does. The node of a failed, cancelled, timed-out or non-blocking attempt is
always removed. ``Semaphore``'s algorithm is in :mod:`kazoo.recipe._semaphore`.

Every class comes as a blocking class (``Lock``) for :class:`~kazoo.client.KazooClient` and
an asyncio class (``AsyncLock``) for :class:`~kazoo.aio.AsyncKazooClient`, from one source.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from kazoo.exceptions import NoNodeError
from kazoo.recipe._lockbase import Contender, HeldNode, Steps, find_prefixed
from kazoo.recipe._naming import order_key, split_at_marker
from kazoo.recipe._runtime import Async, Blocking, Call, Together, op
from kazoo.recipe._semaphore import _SemaphoreCore
from kazoo.recipe._waiting import (
    Deadline,
    check_path,
    create_node,
    ensure_open,
    list_children,
    owned,
    read_identifiers,
    wait_for,
)

__all__ = [
    "AsyncLock",
    "AsyncReadLock",
    "AsyncSemaphore",
    "AsyncWriteLock",
    "Lock",
    "ReadLock",
    "Semaphore",
    "WriteLock",
]

LOCK_MARKER = "__lock__"
READ_MARKER = "__rlock__"


class _Attempt(Contender):
    """State of one ``acquire`` call; our node's name starts with the unique ``prefix``."""

    __slots__ = ("prefix", "blocking", "ephemeral", "created")

    def __init__(
        self, marker: str, blocking: bool, ephemeral: bool, timeout: float | None, wake: Any
    ) -> None:
        super().__init__(None, wake, timeout)
        self.prefix = uuid.uuid4().hex + marker
        self.blocking = blocking
        self.ephemeral = ephemeral
        #: ``(name, stat)`` from the reply to our create, when we had one.
        self.created: tuple[str, Any] | None = None

    def renew(self, marker: str) -> None:
        """Start over with a new node (the old one belonged to an ended session)."""
        self.prefix = uuid.uuid4().hex + marker
        self.name = None
        self.unsure = False
        self.created = None


class _LockCore(HeldNode):
    """The lock algorithm; combined with :class:`Blocking` or :class:`Async`."""

    _marker = LOCK_MARKER
    _blockers: tuple[str, ...] = (LOCK_MARKER,)

    def __init__(
        self,
        client: Any,
        path: str,
        identifier: Any = None,
        extra_lock_patterns: Iterable[str] = (),
    ) -> None:
        self._check_client(client)  # type: ignore[attr-defined]
        patterns = tuple(extra_lock_patterns)
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"extra lock patterns must be non-empty str, not {pattern!r}")
        self.client = client
        self.path = check_path(path)
        self.identifier = identifier
        self.data = str(identifier or "").encode("utf-8")
        self.extra_lock_patterns = patterns
        self.cancelled = False
        self._blocking_markers = tuple(dict.fromkeys(self._blockers + patterns))
        self._markers = tuple(dict.fromkeys((self._marker, *self._blocking_markers)))
        self._slot = [True]  # holds a token while no acquire runs and the lock is not held
        # set when the token comes back; asyncio's is made on the loop (Python 3.9 binds it)
        self._free: Any = None if self.is_async else self._event()
        self._attempt: _Attempt | None = None
        self._init_held()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path!r} acquired={self.is_acquired}>"

    @property
    def node(self) -> str | None:
        """Name of our node while held (or while contending), else ``None``."""
        holds = self._holds[:]
        if holds:
            return holds[0].path.rsplit("/", 1)[-1]
        attempt = self._attempt
        return attempt.name if attempt is not None else None

    def cancel(self) -> None:
        """Make a blocked ``acquire()`` stop with ``CancelledError``; its node is removed."""
        self.cancelled = True
        for event in (self._wake, self._free):
            if event is not None:
                event.set()

    # -- acquire -------------------------------------------------------------------------

    def _acquire(
        self, blocking: bool = True, timeout: float | None = None, ephemeral: bool = True
    ) -> Steps:
        """Take the lock; ``True`` when held.

        ``blocking=False``: one look, ``False`` if taken. ``timeout``: a total budget;
        ``LockTimeout`` when it runs out while waiting for the holder, ``False`` when it went
        on connection trouble. ``ephemeral=False``: a persistent node that survives the
        session. Not re-entrant: on an object that already holds the lock a blocking call
        waits for its release (``False`` on timeout), a non-blocking one returns ``False``.
        ``cancel()`` makes a waiting call raise ``CancelledError``. Whatever ends an attempt
        without the lock, its node is removed.
        """
        ensure_open(self.client)
        self.cancelled = False
        return (yield from self._acquire_steps(blocking, timeout, ephemeral))

    acquire = op(_acquire)

    def _acquire_steps(self, blocking: bool, timeout: float | None, ephemeral: bool) -> Steps:
        wake = self._event()
        attempt = _Attempt(self._marker, blocking, ephemeral, timeout, wake)
        if not (yield from self._claim(blocking, attempt.deadline)):
            return False
        self._wake, self._attempt = wake, attempt
        self.client.add_listener(self._on_session)

        def give_up() -> Steps:
            if attempt.name is not None or attempt.unsure:
                yield from self._remove_node(
                    self.path, attempt.name, attempt.prefix, attempt.ephemeral
                )

        def finish(got: bool) -> None:
            self._wake = self._attempt = None
            if not got:
                self._unclaim()

        return (yield from self._guarded(self._contend(attempt), give_up, finish))

    def _claim(self, blocking: bool, deadline: Deadline) -> Steps:
        """Take this object's token: not re-entrant, a held object is waited for."""
        if self._free is None:
            self._free = self._event()
        free = self._free
        while True:
            free.clear()
            self._check_cancelled()
            try:
                self._slot.pop()
                return True
            except IndexError:
                pass
            if not blocking or not (yield from wait_for(free, deadline.left())):
                return False

    def _unclaim(self) -> None:
        self.client.remove_listener(self._on_session)
        self._slot.append(True)
        if self._free is not None:
            self._free.set()

    def _hold_ended(self) -> None:
        self._unclaim()

    def _contend(self, attempt: _Attempt) -> Steps:
        # LOST: look again on the new session (an ephemeral node is gone)
        return (yield from self._rounds(attempt, lambda: self._round(attempt)))

    def _round(self, attempt: _Attempt) -> Steps:
        """One look: ``True`` held, ``False`` taken (non-blocking), ``None`` look again."""
        children: list[str] | None = None
        if attempt.name is None and not attempt.unsure:
            attempt.unsure = True
            children = yield from self._create_and_list(attempt)
        if children is None:
            try:
                children = yield Call.within(attempt.limit(), self.client.get_children, self.path)
            except NoNodeError:
                children = []
        entries = self._sorted(children)
        attempt.name = find_prefixed([name for _, name, _ in entries], attempt.prefix)
        attempt.unsure = False
        if attempt.name is None:
            return None  # gone (session ended, or deleted by someone): create it again
        predecessor = self._predecessor(entries, attempt.name)
        if predecessor is None:
            return (yield from self._take(attempt))
        if not attempt.blocking:
            return False
        attempt.wake.clear()
        self._check_cancelled()  # after the clear: a cancel() from now on sets `wake` again
        path = self.path + "/" + predecessor
        found = yield Call.within(attempt.limit(), self.client.exists, path, watch=attempt.on_watch)
        if found is None:
            return None
        if not (yield from wait_for(attempt.wake, attempt.deadline.left())):
            raise self._timed_out(attempt)
        return None

    def _create_and_list(self, attempt: _Attempt) -> Steps:
        """Create our node and list the contenders in one round trip (the listing is sent
        right behind the create, so it includes the new node); the listing, or ``None``
        when it has to be asked for again."""
        client, limit = self.client, attempt.limit()
        node = self.path + "/" + attempt.prefix
        options = {"ephemeral": attempt.ephemeral, "sequence": True, "include_data": True}
        create, listing = yield Together(
            Call.within(limit, client.create, node, self.data, **options),
            Call.within(limit, client.get_children, self.path),
        )
        if isinstance(create.error, NoNodeError):  # no lock node yet: make it, create again
            reply: Any = yield from create_node(client, node, self.data, limit=limit, **options)
            listing = None
        else:
            reply = create.get()
        created, stat = reply  # (path, ZnodeStat) with include_data
        attempt.name = created.rsplit("/", 1)[-1]
        attempt.created = (attempt.name, stat)
        if listing is None or isinstance(listing.error, NoNodeError):
            return None
        children: list[str] = listing.get()
        return children

    def _take(self, attempt: _Attempt) -> Steps:
        """No blocker before us: hold the lock if the node is (still) ours."""
        assert attempt.name is not None
        path = self.path + "/" + attempt.name
        created = attempt.created
        if created is not None and created[0] == attempt.name:
            # Our create's reply already gave its stat, and the listing shows the node is
            # still there; whether it is the current session's is checked below.
            stat = created[1]
        else:
            stat = yield Call.within(attempt.limit(), self.client.exists, path)
        if stat is None:
            attempt.name = None
            return None
        if attempt.ephemeral and not owned(self.client, stat):
            if self.client.client_id is not None:
                attempt.renew(self._marker)  # a node of an ended session: not ours any more
            return None
        self._start_hold(path, stat, attempt.ephemeral)
        return True

    def _sorted(self, children: list[str]) -> list[tuple[int, str, str]]:
        """``(order key, name, marker)`` of the contender nodes, in acquisition order."""
        entries = []
        for name in children:
            split = split_at_marker(name, self._markers)
            if split is not None:
                marker, seq = split
                entries.append((order_key(seq), name, marker))
        entries.sort()
        return entries

    def _predecessor(self, entries: list[tuple[int, str, str]], mine: str) -> str | None:
        """The nearest node before ``mine`` that blocks this kind of lock."""
        predecessor = None
        for _key, name, marker in entries:
            if name == mine:
                break
            if marker in self._blocking_markers:
                predecessor = name
        return predecessor

    # -- the rest ------------------------------------------------------------------------

    def _contenders(self) -> Steps:
        """Identifiers of all contenders (this kind and the ones blocking it), in order."""
        children = yield from list_children(self.client, self.path)
        names = [name for _, name, _ in self._sorted(children)]
        return (yield from read_identifiers(self.client, self.path, names))

    contenders = op(_contenders)


class _ReadMarkers:
    _marker = READ_MARKER
    _blockers: tuple[str, ...] = (LOCK_MARKER,)


class _WriteMarkers:
    _marker = LOCK_MARKER
    _blockers: tuple[str, ...] = (LOCK_MARKER, READ_MARKER)


_H = TypeVar("_H", bound="_Context")
_A = TypeVar("_A", bound="_AsyncContext")


class _Context(Blocking):
    """``with held:`` acquires (blocking) and releases; ``__enter__`` returns the object."""

    acquire: Any
    release: Any

    def __enter__(self: _H) -> _H:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


class _AsyncContext(Async):
    """``async with held:``, the asyncio twin of :class:`_Context`."""

    acquire: Any
    release: Any

    async def __aenter__(self: _A) -> _A:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.release()


class Lock(_LockCore, _Context):
    """Exclusive lock for :class:`~kazoo.client.KazooClient` (``client.Lock(path, id)``).

    ``acquire(blocking=True, timeout=None, ephemeral=True)`` → bool, ``release()`` → bool,
    ``cancel()``, ``contenders()`` → list of identifiers; ``with lock:`` acquires and
    releases (``__enter__`` returns the lock).
    """


class ReadLock(_ReadMarkers, Lock):
    """Shared lock: blocked only by lower write-lock nodes."""


class WriteLock(_WriteMarkers, Lock):
    """Exclusive lock that also waits for lower read-lock nodes."""


class AsyncLock(_LockCore, _AsyncContext):
    """Exclusive lock for :class:`~kazoo.aio.AsyncKazooClient`: the same methods as
    coroutines (``cancel()`` and the attributes stay plain); ``async with lock:``."""


class AsyncReadLock(_ReadMarkers, AsyncLock):
    """Asyncio :class:`ReadLock`."""


class AsyncWriteLock(_WriteMarkers, AsyncLock):
    """Asyncio :class:`WriteLock`."""


class Semaphore(_SemaphoreCore, _Context):
    """Up to ``max_leases`` holders, for :class:`~kazoo.client.KazooClient`.

    ``acquire(blocking=True, timeout=None)`` → bool, ``release()`` → bool, ``cancel()``,
    ``lease_holders()``; ``with semaphore:``.
    """

    _lock_class = Lock


class AsyncSemaphore(_SemaphoreCore, _AsyncContext):
    """Asyncio :class:`Semaphore`; ``async with semaphore:``."""

    _lock_class = AsyncLock
