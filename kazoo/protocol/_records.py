"""The request records of single operations (the multi record lives in ``serialization``).

Import them from :mod:`kazoo.protocol.serialization`; this module only keeps that one under
the size limit. See there for the contract every record follows.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from kazoo.protocol._jute import (
    INT,
    LONG,
    Reader,
    encode_acl_vector,
    encode_buffer,
    encode_ustring,
    encode_ustring_vector,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, ClientInfo

_pack_int = INT.pack
_pack_long = LONG.pack
BOOL_BYTES = (b"\x00", b"\x01")
#: length, xid, type: the head of every request frame.
_pack_frame_header = struct.Struct(">iii").pack
#: length, xid, type and the length of a first string field, in one pack.
_pack_frame_header_str = struct.Struct(">iiii").pack


def _str_flag(text: str, flag: bool) -> bytes:
    raw = text.encode("utf-8")
    return b"".join((_pack_int(len(raw)), raw, BOOL_BYTES[1 if flag else 0]))


def _str_int(text: str, value: int) -> bytes:
    raw = text.encode("utf-8")
    return b"".join((_pack_int(len(raw)), raw, _pack_int(value)))


class Request(Protocol):
    """What every request record provides."""

    @property
    def type(self) -> int: ...

    def serialize(self) -> bytes: ...

    def frame(self, xid: int) -> bytes: ...

    def deserialize(self, r: Reader) -> Any: ...


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    """All slot names of a record class, base classes first."""
    names = _FIELDS.get(cls)
    if names is None:
        slots = (c.__dict__.get("__slots__", ()) for c in reversed(cls.__mro__))
        names = _FIELDS[cls] = tuple(n for group in slots for n in group)
    return names


class _Record:
    """Slots record base: field-wise ``==`` and a ``repr`` that hides secret fields."""

    __slots__ = ()
    _secret: ClassVar[tuple[str, ...]] = ()
    type: int  # the opcode: a class attribute, or set per instance (Create)

    def serialize(self) -> bytes:
        raise NotImplementedError

    def frame(self, xid: int) -> bytes:
        """The whole request frame: length prefix, RequestHeader(xid, type), body."""
        body = self.serialize()
        return _pack_frame_header(len(body) + 8, xid, self.type) + body

    def deserialize(self, r: Reader) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        shown = (
            f"{name}=<hidden>" if name in self._secret else f"{name}={getattr(self, name)!r}"
            for name in _fields(type(self))
        )
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _fields(type(self)))

    __hash__ = None  # type: ignore[assignment]


class _NoBody(_Record):
    """A request without a body."""

    __slots__ = ()

    def serialize(self) -> bytes:
        return b""


class _Path(_Record):
    """A request whose body is just a path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def serialize(self) -> bytes:
        return encode_ustring(self.path)


class _PathWatch(_Record):
    """A read: ``path`` and a ``watch`` flag."""

    __slots__ = ("path", "watch")

    def __init__(self, path: str, watch: bool = False) -> None:
        self.path = path
        self.watch = watch

    def serialize(self) -> bytes:
        return _str_flag(self.path, self.watch)

    def frame(self, xid: int) -> bytes:
        # The hot path of every read: one pack for the header and the path's length.
        raw = self.path.encode("utf-8")
        n = len(raw)
        return _pack_frame_header_str(n + 13, xid, self.type, n) + raw + BOOL_BYTES[self.watch]


class _PathVersion(_Record):
    __slots__ = ("path", "version")

    def __init__(self, path: str, version: int = -1) -> None:
        self.path = path
        self.version = version

    def serialize(self) -> bytes:
        return _str_int(self.path, self.version)

    def deserialize(self, r: Reader) -> bool:
        return True


class _PathWatcherType(_Record):
    """``path`` and a WatcherType (§8.6); the reply has no body."""

    __slots__ = ("path", "watcher_type")

    def __init__(self, path: str, watcher_type: int) -> None:
        self.path = path
        self.watcher_type = watcher_type

    def serialize(self) -> bytes:
        return _str_int(self.path, self.watcher_type)

    def deserialize(self, r: Reader) -> bool:
        return True


# ---------------------------------------------------------------------------------------------
# Node operations


class Create(_Record):
    """create (1), create2 (15), createContainer (19) or createTTL (21).

    ``flags`` is the CreateMode sent as is (§6): 0-3 for ordinary nodes (bit 0 ephemeral,
    bit 1 sequential), 4 for a container, 5 or 6 for TTL nodes. The opcode is chosen from the
    keywords: ``container`` → 19 (``ttl`` ignored), ``ttl > 0`` → 21 (body carries the ttl),
    else 15 with ``include_stat``, else 1. The reply is ``(server_path, stat or None)``.
    """

    __slots__ = ("acl", "container", "data", "flags", "include_stat", "path", "ttl", "type")

    def __init__(
        self,
        path: str,
        data: bytes | None,
        acl: Sequence[ACL],
        flags: int,
        ttl: int = -1,
        container: bool = False,
        include_stat: bool = False,
    ) -> None:
        self.path = path
        self.data = data
        self.acl = acl
        self.flags = flags
        self.ttl = ttl
        self.container = container
        self.include_stat = include_stat
        self.type = 19 if container else 21 if ttl > 0 else 15 if include_stat else 1

    def serialize(self) -> bytes:
        parts = [
            encode_ustring(self.path),
            encode_buffer(self.data),
            encode_acl_vector(self.acl),
            _pack_int(self.flags),
        ]
        if self.type == 21:
            parts.append(_pack_long(self.ttl))
        return b"".join(parts)

    def deserialize(self, r: Reader) -> tuple[str, ZnodeStat | None]:
        path = r.read_str("created path")
        if self.type == 1:
            return path, None
        return path, r.read_stat()


class Delete(_PathVersion):
    __slots__ = ()
    type = 2


class Exists(_PathWatch):
    __slots__ = ()
    type = 3

    def deserialize(self, r: Reader) -> ZnodeStat:
        return r.read_stat()


class GetData(_PathWatch):
    __slots__ = ()
    type = 4

    def deserialize(self, r: Reader) -> tuple[bytes | None, ZnodeStat]:
        return r.read_data_stat()


class SetData(_Record):
    __slots__ = ("data", "path", "version")
    type = 5

    def __init__(self, path: str, data: bytes | None, version: int = -1) -> None:
        self.path = path
        self.data = data
        self.version = version

    def serialize(self) -> bytes:
        return b"".join(
            (encode_ustring(self.path), encode_buffer(self.data), _pack_int(self.version))
        )

    def deserialize(self, r: Reader) -> ZnodeStat:
        return r.read_stat()


class GetACL(_Path):
    __slots__ = ()
    type = 6

    def deserialize(self, r: Reader) -> tuple[list[ACL], ZnodeStat]:
        acl = r.read_acl_vector()
        return acl, r.read_stat()


class SetACL(_Record):
    __slots__ = ("acl", "path", "version")
    type = 7

    def __init__(self, path: str, acl: Sequence[ACL], version: int = -1) -> None:
        self.path = path
        self.acl = acl
        self.version = version

    def serialize(self) -> bytes:
        return b"".join(
            (encode_ustring(self.path), encode_acl_vector(self.acl), _pack_int(self.version))
        )

    def deserialize(self, r: Reader) -> ZnodeStat:
        return r.read_stat()


class GetChildren(_PathWatch):
    """getChildren (8); a null list reads as ``[]``."""

    __slots__ = ()
    type = 8

    def deserialize(self, r: Reader) -> list[str]:
        return r.read_ustring_vector() or []


class GetChildren2(_PathWatch):
    __slots__ = ()
    type = 12

    def deserialize(self, r: Reader) -> tuple[list[str], ZnodeStat]:
        children = r.read_ustring_vector() or []
        return children, r.read_stat()


class Sync(_Path):
    __slots__ = ()
    type = 9

    def deserialize(self, r: Reader) -> str:
        return r.read_str("sync path")


class Ping(_NoBody):
    """ping (11), sent with ``PING_XID``; see also ``PING_FRAME``."""

    __slots__ = ()
    type = 11

    def deserialize(self, r: Reader) -> bool:
        return True


class Close(_NoBody):
    """closeSession (-11); sent with a normal xid."""

    __slots__ = ()
    type = -11

    def deserialize(self, r: Reader) -> bool:
        return True


class WhoAmI(_NoBody):
    """whoAmI (107); a null list reads as ``[]``."""

    __slots__ = ()
    type = 107

    def deserialize(self, r: Reader) -> list[ClientInfo]:
        return r.read_client_info_vector()


class CheckVersion(_PathVersion):
    """check (13): only valid inside a :class:`Transaction` (a lone one is never answered)."""

    __slots__ = ()
    type = 13


class Reconfig(_Record):
    __slots__ = ("config_id", "joining", "leaving", "new_members")
    type = 16

    def __init__(
        self,
        joining: str | None,
        leaving: str | None,
        new_members: str | None,
        config_id: int = -1,
    ) -> None:
        self.joining = joining
        self.leaving = leaving
        self.new_members = new_members
        self.config_id = config_id

    def serialize(self) -> bytes:
        return b"".join(
            (
                encode_ustring(self.joining),
                encode_ustring(self.leaving),
                encode_ustring(self.new_members),
                _pack_long(self.config_id),
            )
        )

    def deserialize(self, r: Reader) -> tuple[bytes | None, ZnodeStat]:
        return r.read_data_stat()


class CheckWatches(_PathWatcherType):
    __slots__ = ()
    type = 17


class RemoveWatches(_PathWatcherType):
    __slots__ = ()
    type = 18


class AddWatch(_Record):
    """addWatch (106): ``mode`` 0 persistent, 1 persistent recursive. The ErrorResponse body
    (``00000000``) is skipped, not checked (the header err decides); an empty body is fine."""

    __slots__ = ("mode", "path")
    type = 106

    def __init__(self, path: str, mode: int) -> None:
        self.path = path
        self.mode = mode

    def serialize(self) -> bytes:
        return _str_int(self.path, self.mode)

    def deserialize(self, r: Reader) -> bool:
        if r.remaining() >= 4:
            r.read_int()
        return True


class GetEphemerals(_Record):
    """getEphemerals (103); a null list reads as ``[]``."""

    __slots__ = ("prefix",)
    type = 103

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix

    def serialize(self) -> bytes:
        return encode_ustring(self.prefix)

    def deserialize(self, r: Reader) -> list[str]:
        return r.read_ustring_vector() or []


class GetAllChildrenNumber(_Path):
    __slots__ = ()
    type = 104

    def deserialize(self, r: Reader) -> int:
        return r.read_int()


# ---------------------------------------------------------------------------------------------
# Session-level requests


class Auth(_Record):
    """AuthPacket (100), sent with ``AUTH_XID``; ``auth`` is hidden from ``repr``."""

    __slots__ = ("auth", "auth_type", "scheme")
    _secret = ("auth",)
    type = 100

    def __init__(self, auth_type: int, scheme: str, auth: bytes | None) -> None:
        self.auth_type = auth_type
        self.scheme = scheme
        self.auth = auth

    def serialize(self) -> bytes:
        return b"".join(
            (_pack_int(self.auth_type), encode_ustring(self.scheme), encode_buffer(self.auth))
        )

    def deserialize(self, r: Reader) -> bool:
        return True


class SetWatches(_Record):
    """setWatches (101), sent with ``SET_WATCHES_XID``; lists hold server paths."""

    __slots__ = ("child", "data", "exist", "relative_zxid")
    type = 101

    def __init__(
        self,
        relative_zxid: int,
        data: Sequence[str],
        exist: Sequence[str],
        child: Sequence[str],
    ) -> None:
        self.relative_zxid = relative_zxid
        self.data = data
        self.exist = exist
        self.child = child

    def _lists(self) -> tuple[Sequence[str], ...]:
        return self.data, self.exist, self.child

    def serialize(self) -> bytes:
        parts = [_pack_long(self.relative_zxid)]
        parts.extend(encode_ustring_vector(paths) for paths in self._lists())
        return b"".join(parts)

    def deserialize(self, r: Reader) -> bool:
        return True


class SetWatches2(SetWatches):
    """setWatches2 (105): SetWatches plus persistent and persistent-recursive paths."""

    __slots__ = ("persistent", "persistent_recursive")
    type = 105

    def __init__(
        self,
        relative_zxid: int,
        data: Sequence[str],
        exist: Sequence[str],
        child: Sequence[str],
        persistent: Sequence[str],
        persistent_recursive: Sequence[str],
    ) -> None:
        super().__init__(relative_zxid, data, exist, child)
        self.persistent = persistent
        self.persistent_recursive = persistent_recursive

    def _lists(self) -> tuple[Sequence[str], ...]:
        return self.data, self.exist, self.child, self.persistent, self.persistent_recursive


class SASL(_Record):
    """sasl (102), normal xid; the reply token (``None`` when the server has none)."""

    __slots__ = ("token",)
    _secret = ("token",)
    type = 102

    def __init__(self, token: bytes | None) -> None:
        self.token = token

    def serialize(self) -> bytes:
        return encode_buffer(self.token)

    def deserialize(self, r: Reader) -> bytes | None:
        return r.read_buffer()
