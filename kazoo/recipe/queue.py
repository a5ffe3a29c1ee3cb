"""Distributed queues: :class:`Queue` and :class:`LockingQueue` (API §2.10).

Node layouts (shared with old kazoo):

* ``Queue``: items ``path/entry-PPP-<seq>`` (``PPP`` = priority 0-999 as three digits,
  lower first; FIFO within a priority by the sequence suffix).
* ``LockingQueue``: items ``path/entries/entry-PPP-<seq>``; a consumer claims one by
  creating the ephemeral ``path/taken/<item name>`` holding its 32-hex-character id.

Items are ordered by priority, then by the sequence number read as a signed integer and
compared modulo 2**32, so the order survives the counter's wrap past 2**31 - 1. Each class
is written once (``_QueueCore``, ``_LockingQueueCore``) and comes blocking (``Queue``,
``LockingQueue``) and asyncio (``AsyncQueue``, ``AsyncLockingQueue``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from kazoo.exceptions import (
    KazooException,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.recipe._naming import order_key, parse_sequence
from kazoo.recipe._runtime import Async, Blocking, Call, Steps, op
from kazoo.recipe._waiting import (
    Deadline,
    Guarded,
    Signal,
    delete_own,
    owned,
    poll,
    uncertain,
    watched,
)

__all__ = ["AsyncLockingQueue", "AsyncQueue", "LockingQueue", "Queue"]

_PREFIX = "entry-"
_PREFIX_LEN = len("entry-000-")


def _entry_prefix(value: Any, priority: Any) -> str:
    """The name prefix for an item, after checking ``value`` and ``priority``."""
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")
    return _priority_prefix(priority)


def _priority_prefix(priority: Any) -> str:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be an int, not {type(priority).__name__}")
    if not 0 <= priority <= 999:
        raise ValueError(f"priority must be between 0 and 999, not {priority}")
    return f"{_PREFIX}{priority:03d}-"


def entry_key(name: str) -> tuple[int, int] | None:
    """``(priority, order)`` of an item name ``entry-PPP-<seq>``; ``None`` for other names."""
    if len(name) < _PREFIX_LEN + 10 or not name.startswith(_PREFIX):
        return None
    digits = name[len(_PREFIX) : _PREFIX_LEN - 1]
    if name[_PREFIX_LEN - 1] != "-" or not (digits.isascii() and digits.isdigit()):
        return None
    seq = parse_sequence(name[_PREFIX_LEN:])
    return None if seq is None else (int(digits), order_key(seq))


def sorted_entries(names: Iterable[str]) -> list[str]:
    """Item names in delivery order (other names are left out)."""
    keyed = [(key, name) for name in names if (key := entry_key(name)) is not None]
    keyed.sort()
    return [name for _key, name in keyed]


def _transaction_failed(results: list[Any]) -> bool:
    return any(isinstance(item, Exception) for item in results)


def _transaction_error(results: list[Any]) -> Exception | None:
    """The error that made a transaction fail (not the roll-back markers)."""
    errors = [item for item in results if isinstance(item, Exception)]
    for item in errors:
        if not isinstance(item, (RolledBackError, RuntimeInconsistency)):
            return item
    return errors[0] if errors else None


# -- Queue ---------------------------------------------------------------------------------


class _QueueCore(Guarded):
    """Algorithms of the simple queue (items deleted as they are taken)."""

    client: Any

    def __init__(self, client: Any, path: str) -> None:
        self._bind(client, path)

    def _put(self, value: bytes, priority: int = 100) -> Steps[None]:
        """Add ``value`` with ``priority`` (0-999, lower first)."""
        prefix = _entry_prefix(value, priority)
        client = self.client
        yield Call(
            client.retry,
            client.create,
            f"{self.path}/{prefix}",
            value,
            sequence=True,
            makepath=True,
        )

    put = op(_put)

    def _get(self) -> Steps[bytes | None]:
        """Take the first item: its data, the node deleted; ``None`` when empty."""
        client = self.client
        while True:
            try:
                children = yield Call(client.retry, client.get_children, self.path)
            except NoNodeError:
                return None
            names = sorted_entries(children)
            if not names:
                return None
            for name in names:
                path = f"{self.path}/{name}"
                try:
                    data, _stat = yield Call(client.retry, client.get, path)
                except NoNodeError:
                    continue
                if (yield from _take(client, path)):
                    return data if data is not None else b""
            # every item we saw went to other consumers: look again

    get = op(_get)

    def _count(self) -> Steps[int]:
        """Number of items."""
        try:
            children = yield Call(self.client.retry, self.client.get_children, self.path)
        except NoNodeError:
            return 0
        return len(sorted_entries(children))

    count = op(_count)


def _take(client: Any, path: str) -> Steps[bool]:
    """Delete ``path``; ``True`` if this call deleted it, ``False`` if someone else did.

    After a connection loss the outcome is unknown: the node being gone then counts as
    ours, so an item may (rarely) be delivered twice but is never lost.
    """
    while True:
        try:
            yield Call(client.delete, path)
            return True
        except NoNodeError:
            return False
        except KazooException as exc:
            if not uncertain(exc):
                raise
        if (yield Call(client.retry, client.exists, path)) is None:
            return True


class Queue(_QueueCore, Blocking):
    """A simple distributed queue (blocking client). Not reliable: an item is deleted
    before it is processed; use :class:`LockingQueue` for that."""

    def __len__(self) -> int:
        return int(self.count())


class AsyncQueue(_QueueCore, Async):
    """:class:`Queue` for ``AsyncKazooClient``: ``await q.put(v)``, ``await q.get()``,
    ``await q.count()``."""


# -- LockingQueue --------------------------------------------------------------------------


class _LockingQueueCore(Guarded):
    """Algorithms of the queue whose items are claimed, then consumed or released."""

    client: Any

    def __init__(self, client: Any, path: str) -> None:
        self._bind(client, path)
        self.entries_path = f"{path}/entries"
        self.taken_path = f"{path}/taken"
        self.id = uuid.uuid4().hex.encode("ascii")
        self.processing_element: tuple[str, bytes] | None = None
        self._signal = Signal(self._event)  # type: ignore[attr-defined]
        self._paths_ready = False

    # -- producing ------------------------------------------------------------------------

    def _put(self, value: bytes, priority: int = 100) -> Steps[None]:
        """Add ``value`` with ``priority`` (0-999, lower first)."""
        prefix = _entry_prefix(value, priority)
        client = self.client
        yield from self._ensure_paths()
        yield Call(
            client.retry,
            client.create,
            f"{self.entries_path}/{prefix}",
            value,
            sequence=True,
            makepath=True,
        )

    put = op(_put)

    def _put_all(self, values: list[bytes], priority: int = 100) -> Steps[None]:
        """Add every item of ``values`` (a list of bytes) in one transaction."""
        if not isinstance(values, list):
            raise TypeError(f"values must be a list, not {type(values).__name__}")
        prefix = _priority_prefix(priority)
        for value in values:
            _entry_prefix(value, priority)
        if not values:
            return
        yield from self._ensure_paths()
        yield Call(self.client.retry, self._put_all_once, values, prefix)

    put_all = op(_put_all)

    @op
    def _put_all_once(self, values: list[bytes], prefix: str) -> Steps[None]:
        txn = self.client.transaction()
        for value in values:
            txn.create(f"{self.entries_path}/{prefix}", value, sequence=True)
        error = _transaction_error((yield Call(txn.commit)))
        if error is not None:
            raise error

    def _ensure_paths(self, again: bool = False) -> Steps[None]:
        if self._paths_ready and not again:
            return
        client = self.client
        yield Call(client.retry, client.ensure_path, self.entries_path)
        yield Call(client.retry, client.ensure_path, self.taken_path)
        self._paths_ready = True

    # -- consuming ------------------------------------------------------------------------

    def _get(self, timeout: float | None = None) -> Steps[bytes | None]:
        """Claim a free item and return its data (the same one again until it is consumed
        or released); ``None`` when ``timeout`` (total seconds) runs out first."""
        signal, client = self._signal, self.client
        client.add_listener(signal.wake)
        try:
            held = yield from self._still_held()
            if held is not None:
                return held
            yield from self._ensure_paths()
            return (yield from poll(client, signal, Deadline(timeout), self._claim_any))
        finally:
            client.remove_listener(signal.wake)

    get = op(_get)

    def _still_held(self) -> Steps[bytes | None]:
        element = self.processing_element
        if element is None:
            return None
        if (yield from self._claim_is_ours(element[0])):
            return element[1]
        self.processing_element = None  # the claim went with an expired session
        return None

    def _claim_any(self) -> Steps[bytes | None]:
        """One look: claim a free item and return its data, else ``None`` with watches on
        the entries and the claims."""
        client, signal = self.client, self._signal
        try:
            entries = yield from watched(signal, client.get_children, self.entries_path)
            taken = yield from watched(signal, client.get_children, self.taken_path)
        except NoNodeError:  # the queue was removed meanwhile: make it again, look again
            yield from self._ensure_paths(again=True)
            signal.wake()
            return None
        for name in sorted_entries(set(entries).difference(taken)):
            got = yield from self._claim(name)
            if got is not None:
                return got
        return None

    def _claim(self, name: str) -> Steps[bytes | None]:
        """Claim item ``name`` (atomically with a check that it still exists); its data,
        or ``None`` if it was taken or consumed first. Never leaves a claim behind on
        failure or cancellation."""
        client = self.client
        txn = client.transaction()
        txn.check(f"{self.entries_path}/{name}", -1)
        txn.create(f"{self.taken_path}/{name}", self.id, ephemeral=True)
        try:
            try:
                results = yield Call(txn.commit)
                claimed = not _transaction_failed(results)
            except KazooException as exc:
                if not uncertain(exc):
                    raise
                claimed = yield from self._claim_is_ours(name)
            if not claimed:
                return None
            data, _stat = yield Call(client.retry, client.get, f"{self.entries_path}/{name}")
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                raise
            yield from self._drop_claim(name)
            if isinstance(exc, NoNodeError):
                return None  # consumed by a client that does not honour claims
            raise
        value = data if data is not None else b""
        self.processing_element = (name, value)
        return value

    def _claim_is_ours(self, name: str) -> Steps[bool]:
        client = self.client
        try:
            data, stat = yield Call(client.retry, client.get, f"{self.taken_path}/{name}")
        except NoNodeError:
            return False
        return data == self.id and owned(client, stat)

    def _drop_claim(self, name: str) -> Steps[bool]:
        """Delete our claim on ``name`` if it exists (retried while the session lives)."""
        return (yield from delete_own(self.client, f"{self.taken_path}/{name}", self.id))

    def _holds_lock(self) -> Steps[bool]:
        """Whether this object still holds the claim on the item ``get`` returned."""
        element = self.processing_element
        if element is None:
            return False
        return (yield from self._claim_is_ours(element[0]))

    holds_lock = op(_holds_lock)

    def _consume(self) -> Steps[bool]:
        """Delete the claimed item and its claim in one transaction; ``False`` if that
        failed (nothing claimed, the claim was lost, or the transaction failed)."""
        return (yield from self._finish(consume=True))

    consume = op(_consume)

    def _release(self) -> Steps[bool]:
        """Drop the claim so that another consumer can take the item; ``False`` if there
        was no valid claim or the transaction failed."""
        return (yield from self._finish(consume=False))

    release = op(_release)

    def _finish(self, consume: bool) -> Steps[bool]:
        element = self.processing_element
        if element is None:
            return False
        tried: list[bool] = []
        done = yield Call(self.client.retry, self._finish_once, element[0], consume, tried)
        self.processing_element = None
        if not done:
            yield from self._drop_claim(element[0])  # e.g. the item vanished under the claim
        return bool(done)

    @op
    def _finish_once(self, name: str, consume: bool, tried: list[bool]) -> Steps[bool]:
        client = self.client
        claim, entry = f"{self.taken_path}/{name}", f"{self.entries_path}/{name}"
        try:
            data, stat = yield Call(client.get, claim)
        except NoNodeError:
            if not tried:
                return False
            # an earlier attempt was cut off by a connection loss: did it apply?
            return not consume or (yield Call(client.exists, entry)) is None
        if data != self.id or not owned(client, stat):
            return False
        txn = client.transaction()
        if consume:
            txn.delete(entry)
        txn.delete(claim, stat.version)
        tried.append(True)
        return not _transaction_failed((yield Call(txn.commit)))

    def _count(self) -> Steps[int]:
        """Number of items, claimed ones included."""
        client = self.client
        try:
            children = yield Call(client.retry, client.get_children, self.entries_path)
        except NoNodeError:
            return 0
        return len(sorted_entries(children))

    count = op(_count)


class LockingQueue(_LockingQueueCore, Blocking):
    """A reliable distributed queue (blocking client): ``get`` claims an item, which is
    removed by ``consume()`` or handed back by ``release()``."""

    def __len__(self) -> int:
        return int(self.count())


class AsyncLockingQueue(_LockingQueueCore, Async):
    """:class:`LockingQueue` for ``AsyncKazooClient`` (coroutine methods of the same
    names; ``await q.count()`` instead of ``len(q)``). Cancelling a task blocked in
    ``get`` removes any claim it made."""
