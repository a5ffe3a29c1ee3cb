"""Group membership: :class:`Party` and :class:`ShallowParty` (API §2.10).

* ``Party``: member node ``path/<uuid4 hex>__party__``, ephemeral, data = identifier;
  iteration yields the members' identifiers (one read per member).
* ``ShallowParty``: member node ``path/<uuid4 hex>-<identifier>`` without data; iteration
  yields the text after the first ``-`` (no reads).

``participating`` turns ``False`` on LOST (the member node went with the session); call
``join()`` again to come back. Asyncio flavours: ``await party.join()``,
``await party.count()``, ``async for member in party``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kazoo.exceptions import NoNodeError
from kazoo.recipe._runtime import Async, Blocking, Call, Steps, op
from kazoo.recipe._waiting import (
    Guarded,
    Participation,
    check_path,
    ensure_ephemeral,
    list_children,
    read_identifiers,
)

__all__ = ["AsyncParty", "AsyncShallowParty", "Party", "ShallowParty"]

_PARTY_MARK = "__party__"


def shallow_identifier(name: str) -> str:
    """The identifier in a ``ShallowParty`` member node name: the text after the first ``-``."""
    return name.split("-", 1)[1] if "-" in name else ""


class _PartyCore(Participation, Guarded):
    """Joining and leaving, shared by both party kinds and both flavours."""

    client: Any
    node: str
    data: bytes

    def __init__(self, client: Any, path: str, identifier: Any = None) -> None:
        self._bind(client, path)
        self.participating = False
        self.identifier = identifier

    @property
    def create_path(self) -> str:
        return f"{self.path}/{self.node}"

    def _join(self) -> Steps[None]:
        """Become a member (idempotent: an existing node of this session counts)."""
        yield from ensure_ephemeral(self.client, self.create_path, self.data)
        self.participating = True
        self.client.add_listener(self._on_state)

    join = op(_join)

    def _leave(self) -> Steps[bool]:
        """Stop being a member: ``True`` if the member node was deleted."""
        client = self.client
        client.remove_listener(self._on_state)
        self.participating = False
        try:
            yield Call(client.retry, client.delete, self.create_path)
        except NoNodeError:
            return False
        return True

    leave = op(_leave)

    def _children(self) -> Steps[list[str]]:
        children = yield from list_children(self.client, self.path)
        return [name for name in children if self._is_member(name)]

    def _count(self) -> Steps[int]:
        """Number of members."""
        return len((yield from self._children()))

    count = op(_count)

    def _is_member(self, name: str) -> bool:
        raise NotImplementedError

    def _members(self) -> Steps[list[str]]:
        raise NotImplementedError
        yield  # pragma: no cover - makes this a generator like its overrides

    @op
    def _member_list(self) -> Steps[list[str]]:
        return (yield from self._members())


class _PartyKind(_PartyCore):
    """``Party``: identifiers are the members' node data."""

    def __init__(self, client: Any, path: str, identifier: Any = None) -> None:
        super().__init__(client, path, identifier)
        self.data = str(identifier or "").encode("utf-8")
        self.node = uuid.uuid4().hex + _PARTY_MARK

    def _is_member(self, name: str) -> bool:
        return _PARTY_MARK in name

    def _members(self) -> Steps[list[str]]:
        names = yield from self._children()
        return (yield from read_identifiers(self.client, self.path, names))


class _ShallowKind(_PartyCore):
    """``ShallowParty``: identifiers are part of the members' node names."""

    def __init__(self, client: Any, path: str, identifier: Any = None) -> None:
        super().__init__(client, path, identifier)
        self.data = b""
        name = str(identifier or "")
        if "/" in name:
            raise ValueError(f"invalid identifier {name!r}: must not contain '/'")
        self.node = f"{uuid.uuid4().hex}-{name}"
        check_path(self.create_path)  # the rest of the path rules

    def _is_member(self, name: str) -> bool:
        return True

    def _members(self) -> Steps[list[str]]:
        return [shallow_identifier(name) for name in (yield from self._children())]


class _BlockingParty(Blocking):
    _member_list: Any
    count: Any

    def __iter__(self) -> Iterator[str]:
        return iter(self._member_list())

    def __len__(self) -> int:
        return int(self.count())


class _AsyncParty(Async):
    _member_list: Any

    async def __aiter__(self) -> AsyncIterator[str]:
        for member in await self._member_list():
            yield member


class Party(_PartyKind, _BlockingParty):
    """A party whose members' identifiers are node data (blocking client)."""


class ShallowParty(_ShallowKind, _BlockingParty):
    """A party whose members' identifiers are in the node names (blocking client)."""


class AsyncParty(_PartyKind, _AsyncParty):
    """:class:`Party` for ``AsyncKazooClient``."""


class AsyncShallowParty(_ShallowKind, _AsyncParty):
    """:class:`ShallowParty` for ``AsyncKazooClient``."""
