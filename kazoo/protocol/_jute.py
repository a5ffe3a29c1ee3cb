"""Jute, ZooKeeper's binary record encoding: a bounds-checked reader and fast writers.

Every number is big-endian. ``buffer``, ``ustring`` and ``vector`` carry a 4-byte length or
count where -1 means null (PROTOCOL.md §1). Server bytes are untrusted: every length and count
is checked against the bytes left before anything is allocated, and every failure raises
:class:`~kazoo.exceptions.ProtocolError`.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from typing import Union

from kazoo.exceptions import ProtocolError
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, ClientInfo, Id

__all__ = [
    "BOOL",
    "INT",
    "LONG",
    "STAT",
    "STAT_SIZE",
    "Reader",
    "encode_acl_vector",
    "encode_buffer",
    "encode_ustring",
    "encode_ustring_vector",
    "write_acl_vector",
    "write_bool",
    "write_buffer",
    "write_int",
    "write_long",
    "write_ustring",
    "write_ustring_vector",
]

Payload = Union[bytes, bytearray, memoryview]  # runtime alias: no X | Y on 3.9

INT = struct.Struct(">i")
LONG = struct.Struct(">q")
BOOL = struct.Struct(">?")
STAT = struct.Struct(">qqqqiiiqiiq")
STAT_SIZE = STAT.size  # 68
_ACL_HEAD = struct.Struct(">ii")  # perms, scheme length
_NULL = INT.pack(-1)
_TRUE = b"\x01"
_FALSE = b"\x00"
_unpack_int = INT.unpack_from
_unpack_long = LONG.unpack_from
_unpack_stat = STAT.unpack_from
_pack_int = INT.pack
_pack_long = LONG.pack
_make_stat = functools.partial(tuple.__new__, ZnodeStat)  # no length check: STAT has 11


def _decode_utf8(raw: bytes) -> str:
    """Decode server UTF-8, merging CESU-8 surrogate pairs; never raises."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")
    # Re-pair surrogates through UTF-16; a lone surrogate becomes U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class Reader:
    """A cursor over one payload; ``read_*`` consume jute values from ``pos`` up to ``end``."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: Payload, pos: int = 0, end: int | None = None) -> None:
        if end is None and type(buf) is bytes and 0 <= pos <= len(buf):  # every reply
            self.buf = buf
            self.pos = pos
            self.end = len(buf)
            return
        if isinstance(buf, memoryview) and (buf.format != "B" or buf.ndim != 1):
            buf = buf.cast("B")
        size = len(buf)
        if end is None or end > size:
            end = size
        if not 0 <= pos <= end:
            raise ValueError(f"Reader start {pos} outside [0, {end}]")
        self.buf = buf
        self.pos = pos
        self.end = end

    def remaining(self) -> int:
        """Number of unread bytes."""
        return self.end - self.pos

    def _short(self, need: int, what: str) -> ProtocolError:
        return ProtocolError(
            f"truncated {what}: need {need} bytes at offset {self.pos}, {self.end - self.pos} left"
        )

    def read_int(self) -> int:
        pos = self.pos
        if self.end - pos < 4:
            raise self._short(4, "int")
        self.pos = pos + 4
        value: int = _unpack_int(self.buf, pos)[0]
        return value

    def read_long(self) -> int:
        pos = self.pos
        if self.end - pos < 8:
            raise self._short(8, "long")
        self.pos = pos + 8
        value: int = _unpack_long(self.buf, pos)[0]
        return value

    def read_bool(self) -> bool:
        pos = self.pos
        if self.end - pos < 1:
            raise self._short(1, "boolean")
        self.pos = pos + 1
        return self.buf[pos] != 0

    def _length(self, what: str) -> int:
        """Read a length prefix; -1 (null) or a length that fits in the bytes left."""
        n = self.read_int()
        if n > self.end - self.pos:
            raise ProtocolError(f"{what} length {n} exceeds the {self.end - self.pos} bytes left")
        if n < -1:
            raise ProtocolError(f"negative {what} length {n}")
        return n

    def _take(self, n: int) -> bytes:
        pos = self.pos
        self.pos = pos + n
        return bytes(self.buf[pos : pos + n])

    def read_buffer(self) -> bytes | None:
        n = self._length("buffer")
        if n < 0:
            return None
        return self._take(n)

    def read_ustring(self) -> str | None:
        n = self._length("ustring")
        if n < 0:
            return None
        return _decode_utf8(self._take(n))

    def read_str(self, what: str = "string") -> str:
        """A ustring that must not be null."""
        n = self._length(what)
        if n < 0:
            raise ProtocolError(f"null {what} where a value is required")
        return _decode_utf8(self._take(n))

    def _count(self, what: str, min_size: int) -> int:
        """Read a vector count; -1 (null) or a count whose minimal size fits in the bytes left."""
        n = self.read_int()
        if n < -1:
            raise ProtocolError(f"negative {what} count {n}")
        if n * min_size > self.end - self.pos:
            raise ProtocolError(
                f"{what} count {n} needs at least {n * min_size} bytes, {self.end - self.pos} left"
            )
        return n

    def read_ustring_vector(self) -> list[str] | None:
        n = self._count("vector<ustring>", 4)
        if n < 0:
            return None
        # The hot path of getChildren: one inlined loop instead of a read_str call per name.
        buf, pos, end = self.buf, self.pos, self.end
        out: list[str] = []
        append = out.append
        for _ in range(n):
            if end - pos < 4:
                self.pos = pos
                raise self._short(4, "vector element length")
            size: int = _unpack_int(buf, pos)[0]
            pos += 4
            if size < 0 or size > end - pos:
                self.pos = pos
                what = "null" if size == -1 else "bad"
                raise ProtocolError(f"{what} vector element: length {size}, {end - pos} left")
            raw = bytes(buf[pos : pos + size])
            pos += size
            try:
                append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                append(_decode_utf8(raw))
        self.pos = pos
        return out

    def read_data_stat(self) -> tuple[bytes | None, ZnodeStat]:
        """A ``buffer`` then a ``Stat`` (a getData reply): ``read_buffer()`` and
        ``read_stat()`` in one step, on the hot path of every read."""
        buf, pos, end = self.buf, self.pos, self.end
        if end - pos < 4:
            raise self._short(4, "int")
        n: int = _unpack_int(buf, pos)[0]
        pos += 4
        if n < 0:
            if n != -1:
                raise ProtocolError(f"negative buffer length {n}")
            data = None
        elif n > end - pos:
            raise ProtocolError(f"buffer length {n} exceeds the {end - pos} bytes left")
        else:
            data = bytes(buf[pos : pos + n])
            pos += n
        if end - pos < STAT_SIZE:
            self.pos = pos
            raise self._short(STAT_SIZE, "Stat")
        self.pos = pos + STAT_SIZE
        return data, _make_stat(_unpack_stat(buf, pos))

    def read_stat(self) -> ZnodeStat:
        pos = self.pos
        if self.end - pos < STAT_SIZE:
            raise self._short(STAT_SIZE, "Stat")
        self.pos = pos + STAT_SIZE
        return _make_stat(_unpack_stat(self.buf, pos))

    def read_acl_vector(self) -> list[ACL]:
        """A ``vector<ACL>``; null reads as an empty list."""
        n = self._count("vector<ACL>", 12)
        acls = []
        read = self.read_str
        for _ in range(n):
            perms = self.read_int()
            acls.append(ACL(perms, Id(read("ACL scheme"), read("ACL id"))))
        return acls

    def read_client_info_vector(self) -> list[ClientInfo]:
        """A ``vector<ClientInfo>``; null reads as an empty list."""
        n = self._count("vector<ClientInfo>", 8)
        read = self.read_str
        return [ClientInfo(read("auth scheme"), read("user")) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Writers. ``encode_*`` return bytes; ``write_*`` append to a bytearray.


def encode_buffer(data: bytes | None) -> bytes:
    if data is None:
        return _NULL
    return _pack_int(len(data)) + data


def encode_ustring(text: str | None) -> bytes:
    if text is None:
        return _NULL
    raw = text.encode("utf-8")
    return _pack_int(len(raw)) + raw


def encode_ustring_vector(items: Iterable[str] | None) -> bytes:
    if items is None:
        return _NULL
    parts = [b""]
    for item in items:
        raw = item.encode("utf-8")
        parts.append(_pack_int(len(raw)))
        parts.append(raw)
    parts[0] = _pack_int(len(parts) // 2)
    return b"".join(parts)


#: Encoded ACL lists seen lately: most creates send the same one (the default ACL).
_ACL_ENCODED: dict[tuple[ACL, ...], bytes] = {}
_ACL_ENCODED_SIZE = 64


def encode_acl_vector(acls: Iterable[ACL] | None) -> bytes:
    if acls is None:
        return _NULL
    items = tuple(acls)
    try:
        known = _ACL_ENCODED.get(items)
    except TypeError:  # an unhashable look-alike: encode it, do not remember it
        return _encode_acl_items(items)
    if known is None:
        known = _encode_acl_items(items)
        if len(_ACL_ENCODED) >= _ACL_ENCODED_SIZE:
            _ACL_ENCODED.clear()
        _ACL_ENCODED[items] = known
    return known


def _encode_acl_items(acls: tuple[ACL, ...]) -> bytes:
    parts = [b""]
    for perms, (scheme, ident) in acls:
        raw_scheme = scheme.encode("utf-8")
        raw_id = ident.encode("utf-8")
        parts.append(_ACL_HEAD.pack(perms, len(raw_scheme)))
        parts.append(raw_scheme)
        parts.append(_pack_int(len(raw_id)))
        parts.append(raw_id)
    parts[0] = _pack_int(len(parts) // 4)
    return b"".join(parts)


def write_int(out: bytearray, value: int) -> None:
    out += _pack_int(value)


def write_long(out: bytearray, value: int) -> None:
    out += _pack_long(value)


def write_bool(out: bytearray, value: bool) -> None:
    out += _TRUE if value else _FALSE


def write_buffer(out: bytearray, data: bytes | None) -> None:
    out += encode_buffer(data)


def write_ustring(out: bytearray, text: str | None) -> None:
    out += encode_ustring(text)


def write_ustring_vector(out: bytearray, items: Iterable[str] | None) -> None:
    out += encode_ustring_vector(items)


def write_acl_vector(out: bytearray, acls: Iterable[ACL] | None) -> None:
    out += encode_acl_vector(acls)
