"""Time-based leases: :class:`NonBlockingLease` and :class:`MultiNonBlockingLease` (API §2.10).

A lease is the node ``path/lease_holder`` holding UTF-8 JSON::

    {"version": 1, "holder": "<identifier>", "end": "%Y-%m-%dT%H:%M:%S"}

(``end`` in UTC). Under a :class:`~kazoo.recipe.lock.Lock` on ``path``, a contender reads it
and takes the lease -- writes itself as holder, ending ``duration`` from now -- when there is
no holder, the lease has ended, or it is already its own (a renewal). Nothing is released:
a lease ends with time, so the participants rely on roughly synchronised clocks. A holder
node this class cannot read (not JSON, another version) is never overwritten.

Blocking client only (not offered in :mod:`kazoo.aio`).
"""

from __future__ import annotations

import datetime
import json
import socket
from typing import Any, Callable

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.recipe._waiting import check_path, ensure_open, join_path
from kazoo.recipe.lock import Lock

__all__ = ["MultiNonBlockingLease", "NonBlockingLease"]

_VERSION = 1
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_HOLDER = "lease_holder"

Clock = Callable[[], datetime.datetime]


def utcnow() -> datetime.datetime:
    """The current UTC time as a naive ``datetime`` (what ``datetime.utcnow()`` gave,
    without its deprecation)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _check_duration(duration: Any) -> None:
    if not isinstance(duration, datetime.timedelta):
        raise TypeError(f"duration must be a datetime.timedelta, not {type(duration).__name__}")


class NonBlockingLease:
    """Try once, at construction, to obtain the lease at ``path`` for ``duration``.

    The object is truthy when the lease was obtained (attribute ``obtained``). ``identifier``
    names the holder (default ``socket.gethostname()``); ``utcnow`` is the clock, returning
    naive UTC datetimes. ``ConnectionClosedError`` on a stopped client.
    """

    def __init__(
        self,
        client: Any,
        path: str,
        duration: datetime.timedelta,
        identifier: str | None = None,
        utcnow: Clock = utcnow,
    ) -> None:
        _check_duration(duration)
        ensure_open(client)
        self.client = client
        self.path = check_path(path)
        self.identifier = identifier or socket.gethostname()
        self.obtained = self._attempt(duration, utcnow)

    def __bool__(self) -> bool:
        return self.obtained

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path!r} obtained={self.obtained}>"

    def _attempt(self, duration: datetime.timedelta, clock: Clock) -> bool:
        lock = Lock(self.client, self.path, self.identifier)
        with lock:
            holder_path = join_path(self.path, _HOLDER)
            data, stat = self._read(holder_path)
            now = clock()
            if stat is not None and not self._free_for_us(data, now):
                return False
            value = self._encode(now + duration)
            return self._write(holder_path, value, None if stat is None else stat.version)

    def _read(self, holder_path: str) -> tuple[bytes | None, Any]:
        client = self.client
        try:
            data, stat = client.retry(client.get, holder_path)
        except NoNodeError:
            return None, None
        return data, stat

    def _free_for_us(self, data: bytes | None, now: datetime.datetime) -> bool:
        """Whether the lease recorded in ``data`` may be taken: it is ours, or it ended."""
        if not data:
            return True
        try:
            lease = json.loads(data.decode("utf-8"))
            if lease["version"] != _VERSION:
                return False
            end = datetime.datetime.strptime(lease["end"], _DATE_FORMAT)
            holder = lease["holder"]
        except (ValueError, KeyError, TypeError):
            return False  # not a lease we understand: leave it alone
        return bool(holder == self.identifier or now >= end)

    def _encode(self, end: datetime.datetime) -> bytes:
        lease = {"version": _VERSION, "holder": self.identifier, "end": end.strftime(_DATE_FORMAT)}
        return json.dumps(lease).encode("utf-8")

    def _write(self, holder_path: str, value: bytes, version: int | None) -> bool:
        """Store ``value``; a reply lost with the connection is checked by reading back."""
        client = self.client
        try:
            if version is None:
                client.retry(client.create, holder_path, value)
            else:
                client.retry(client.set, holder_path, value, version=version)
            return True
        except (NodeExistsError, BadVersionError):
            pass  # a retry after our own write was applied, or a writer ignoring the lock
        data, _stat = self._read(holder_path)
        return data == value


class MultiNonBlockingLease:
    """Try to obtain one of ``count`` leases: ``path/0`` … ``path/<count-1>``, in order.

    Truthy when one was obtained (attribute ``obtained``); the other arguments are those of
    :class:`NonBlockingLease`.
    """

    def __init__(
        self,
        client: Any,
        count: int,
        path: str,
        duration: datetime.timedelta,
        identifier: str | None = None,
        utcnow: Clock = utcnow,
    ) -> None:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"count must be an int, not {type(count).__name__}")
        _check_duration(duration)
        ensure_open(client)
        self.path = check_path(path)
        self.obtained = False
        for slot in range(count):
            lease = NonBlockingLease(
                client, join_path(path, str(slot)), duration, identifier=identifier, utcnow=utcnow
            )
            if lease:
                self.obtained = True
                break

    def __bool__(self) -> bool:
        return self.obtained

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path!r} obtained={self.obtained}>"
