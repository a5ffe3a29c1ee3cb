"""A shared counter: :class:`Counter` and :class:`AsyncCounter` (API §2.10).

The value lives in the data of ``path``: ASCII ``repr(value)`` parsed back with
``type(default)``, or, with ``support_curator=True``, a 4-byte big-endian signed int as in
Curator's ``SharedCount``. Empty data reads as ``default``. A change is a versioned
compare-and-set, retried through ``client.retry`` until it wins.
"""

from __future__ import annotations

import struct
from typing import Any

from kazoo.exceptions import BadVersionError, KazooException, NoNodeError
from kazoo.recipe._runtime import Async, Blocking, Call, Steps, op
from kazoo.recipe._waiting import Guarded, uncertain
from kazoo.retry import ForceRetryError

__all__ = ["AsyncCounter", "Counter"]

_INT32 = struct.Struct(">i")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class _CounterCore(Guarded):
    """Algorithms of the counter, for both flavours."""

    client: Any

    def __init__(
        self, client: Any, path: str, default: Any = 0, support_curator: bool = False
    ) -> None:
        self._bind(client, path)
        if support_curator and (not isinstance(default, int) or isinstance(default, bool)):
            raise TypeError(f"support_curator needs an int default, not {type(default).__name__}")
        self.default = default
        self.default_type = type(default)
        self.support_curator = support_curator
        self.pre_value: Any = None
        self.post_value: Any = None
        self._ensured = False

    # -- encoding --------------------------------------------------------------------------

    def _decode(self, data: bytes | None) -> Any:
        if not data:
            return self.default
        if self.support_curator:
            if len(data) != _INT32.size:
                raise ValueError(f"counter {self.path}: expected 4 bytes, found {len(data)}")
            return _INT32.unpack(data)[0]
        return self.default_type(data.decode("ascii"))

    def _encode(self, value: Any) -> bytes:
        if self.support_curator:
            if not _INT32_MIN <= value <= _INT32_MAX:
                raise ValueError(f"counter {self.path}: {value} is outside the int32 range")
            return _INT32.pack(value)
        return repr(value).encode("ascii")

    def _check_amount(self, amount: Any) -> None:
        if not isinstance(amount, self.default_type):
            raise TypeError(
                f"the counter holds {self.default_type.__name__} values, "
                f"not {type(amount).__name__}"
            )

    # -- algorithms ------------------------------------------------------------------------

    def _ensure_node(self, again: bool = False) -> Steps[None]:
        if not self._ensured or again:
            yield Call(self.client.retry, self.client.ensure_path, self.path)
            self._ensured = True

    def _value(self) -> Steps[Any]:
        """The current value (the node is created on first use)."""
        client = self.client
        yield from self._ensure_node()
        while True:
            try:
                data, _stat = yield Call(client.retry, client.get, self.path)
            except NoNodeError:
                yield from self._ensure_node(again=True)
                continue
            return self._decode(data)

    def _add(self, amount: Any) -> Steps[Any]:
        """Add ``amount`` (of the default's type); returns the counter."""
        self._check_amount(amount)
        yield from self._ensure_node()
        attempt: dict[str, Any] = {}
        yield Call(self.client.retry, self._try_add, amount, attempt)
        return self

    @op
    def _try_add(self, amount: Any, attempt: dict[str, Any]) -> Steps[None]:
        """One compare-and-set; ``ForceRetryError`` when another writer came first."""
        client = self.client
        try:
            data, stat = yield Call(client.get, self.path)
        except NoNodeError:
            yield from self._ensure_node(again=True)
            raise ForceRetryError() from None
        if attempt.get("sent") == (stat.version - 1, data):
            # our set was applied, but its reply was lost with the connection
            self.pre_value, self.post_value = attempt["values"]
            return
        old = self._decode(data)
        new = old + amount
        encoded = self._encode(new)
        try:
            yield Call(client.set, self.path, encoded, version=stat.version)
        except BadVersionError:
            raise ForceRetryError() from None
        except KazooException as exc:
            if uncertain(exc):
                attempt["sent"] = (stat.version, encoded)
                attempt["values"] = (old, new)
            raise
        self.pre_value, self.post_value = old, new


class Counter(_CounterCore, Blocking):
    """A shared counter (blocking client): ``counter.value``, ``counter += n``,
    ``counter -= n``."""

    @property
    def value(self) -> Any:
        return self._run(self._value())

    def __add__(self, amount: Any) -> Counter:
        self._run(self._add(amount))
        return self

    def __sub__(self, amount: Any) -> Counter:
        self._check_amount(amount)
        self._run(self._add(-amount))
        return self


class AsyncCounter(_CounterCore, Async):
    """:class:`Counter` for ``AsyncKazooClient``: ``await counter.get()`` and
    ``await counter.add(n)`` (which returns the counter)."""

    get = op(_CounterCore._value)
    add = op(_CounterCore._add)
