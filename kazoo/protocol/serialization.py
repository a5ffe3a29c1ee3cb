"""Request records: each knows its opcode, encodes its body and parses its success reply.

A request record has ``type`` (the opcode, PROTOCOL.md §4), ``serialize()`` (the body, without
length prefix or RequestHeader), ``frame(xid)`` (the whole frame: the base class builds it
from ``serialize()``; the reads make theirs in one pack) and ``deserialize(reader)``, which
parses the reply body of a reply whose header ``err`` is 0. Replies with ``err != 0`` carry no
body and are not passed to ``deserialize``. Paths in requests and results are **server** paths
(chroot included): adding and stripping the chroot is the caller's job. Every parse failure
raises :class:`~kazoo.exceptions.ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple, Union

from kazoo.exceptions import EXCEPTIONS, ProtocolError, ZookeeperError
from kazoo.protocol._jute import INT, Payload, Reader, encode_buffer
from kazoo.protocol._records import BOOL_BYTES as _BOOL
from kazoo.protocol._records import (
    SASL,
    AddWatch,
    Auth,
    CheckVersion,
    CheckWatches,
    Close,
    Create,
    Delete,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetChildren2,
    GetData,
    GetEphemerals,
    Ping,
    Reconfig,
    RemoveWatches,
    Request,
    SetACL,
    SetData,
    SetWatches,
    SetWatches2,
    Sync,
    WhoAmI,
    _Record,
)
from kazoo.protocol.states import ZnodeStat

__all__ = [
    "AUTH_XID",
    "CONNECT_RESPONSE_MIN",
    "MULTI_END",
    "MULTI_HEADER",
    "PING_FRAME",
    "PING_XID",
    "REPLY_HEADER",
    "REQUEST_FRAME_HEADER",
    "SASL",
    "SET_WATCHES_XID",
    "WATCH_XID",
    "AddWatch",
    "Auth",
    "CheckVersion",
    "CheckWatches",
    "Close",
    "Connect",
    "ConnectResponse",
    "Create",
    "Delete",
    "Exists",
    "GetACL",
    "GetAllChildrenNumber",
    "GetChildren",
    "GetChildren2",
    "GetData",
    "GetEphemerals",
    "MultiResult",
    "Ping",
    "Reader",
    "Reconfig",
    "RemoveWatches",
    "Request",
    "SetACL",
    "SetData",
    "SetWatches",
    "SetWatches2",
    "Sync",
    "Transaction",
    "WhoAmI",
    "encode_connect",
    "encode_request",
    "parse_connect_response",
    "read_reply_header",
    "read_watcher_event",
]

WATCH_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

REPLY_HEADER = struct.Struct(">iqi")
REQUEST_FRAME_HEADER = struct.Struct(">iii")  # length, xid, type
MULTI_HEADER = struct.Struct(">ibi")  # type, done, err
MULTI_END = MULTI_HEADER.pack(-1, 1, -1)
_WATCHER_HEAD = struct.Struct(">ii")
_CONNECT_HEAD = struct.Struct(">iqiq")  # protocolVersion, lastZxidSeen, timeOut, sessionId
_CONNECT_RESPONSE_HEAD = struct.Struct(">iiq")  # protocolVersion, timeOut, sessionId
CONNECT_RESPONSE_MIN = 36

_pack_int = INT.pack
_pack_multi_header = MULTI_HEADER.pack


# ---------------------------------------------------------------------------------------------
# Session handshake


class ConnectResponse(NamedTuple):
    protocol_version: int
    time_out: int
    session_id: int
    passwd: bytes
    read_only: bool

    def __repr__(self) -> str:
        return (
            f"ConnectResponse(protocol_version={self.protocol_version!r}, "
            f"time_out={self.time_out!r}, session_id={self.session_id!r}, "
            f"passwd=<hidden>, read_only={self.read_only!r})"
        )


class Connect(_Record):
    """ConnectRequest (§2.1); always sends the trailing readOnly byte (45-byte body)."""

    __slots__ = (
        "last_zxid_seen",
        "passwd",
        "protocol_version",
        "read_only",
        "session_id",
        "time_out",
    )
    _secret = ("passwd",)

    def __init__(
        self,
        protocol_version: int,
        last_zxid_seen: int,
        time_out: int,
        session_id: int,
        passwd: bytes | None,
        read_only: bool,
    ) -> None:
        self.protocol_version = protocol_version
        self.last_zxid_seen = last_zxid_seen
        self.time_out = time_out
        self.session_id = session_id
        self.passwd = passwd
        self.read_only = read_only

    def serialize(self) -> bytes:
        head = _CONNECT_HEAD.pack(
            self.protocol_version, self.last_zxid_seen, self.time_out, self.session_id
        )
        return b"".join((head, encode_buffer(self.passwd), _BOOL[1 if self.read_only else 0]))

    def deserialize(self, r: Reader) -> ConnectResponse:
        return _read_connect_response(r)


def _read_connect_response(r: Reader) -> ConnectResponse:
    size = r.remaining()
    if size < CONNECT_RESPONSE_MIN:
        hint = ""
        if size == REPLY_HEADER.size:
            _, _, err = read_reply_header(r)
            hint = f"; looks like a ReplyHeader with err {err} (read-only server?)"
        raise ProtocolError(f"not a ConnectResponse: {size} bytes, need at least 36{hint}")
    version, time_out, session_id = _CONNECT_RESPONSE_HEAD.unpack_from(r.buf, r.pos)
    r.pos += _CONNECT_RESPONSE_HEAD.size
    passwd = r.read_buffer() or b""
    read_only = r.read_bool() if r.remaining() else False
    return ConnectResponse(version, time_out, session_id, passwd, read_only)


def parse_connect_response(payload: Payload) -> ConnectResponse:
    """Parse the first server frame. 36 bytes (no readOnly byte) or 37; bytes past the
    readOnly byte are ignored (a later server may append fields). Shorter than 36 bytes is
    a :class:`ProtocolError` (e.g. the 16-byte error header of a read-only server, §10)."""
    return _read_connect_response(Reader(payload))


def encode_connect(connect: Connect) -> bytes:
    """The whole first frame: length prefix + ConnectRequest."""
    body = connect.serialize()
    return _pack_int(len(body)) + body


# ---------------------------------------------------------------------------------------------
# Headers and framing of requests


def read_reply_header(r: Reader) -> tuple[int, int, int]:
    """``(xid, zxid, err)`` of a ReplyHeader."""
    pos = r.pos
    if r.end - pos < 16:
        raise ProtocolError(f"truncated ReplyHeader: {r.end - pos} bytes, need 16")
    r.pos = pos + 16
    xid, zxid, err = REPLY_HEADER.unpack_from(r.buf, pos)
    return xid, zxid, err


def read_watcher_event(r: Reader) -> tuple[int, int, str]:
    """``(type, state, path)`` of a WatcherEvent (the body of an xid -1 reply)."""
    pos = r.pos
    if r.end - pos < 8:
        raise ProtocolError(f"truncated WatcherEvent: {r.end - pos} bytes, need at least 12")
    r.pos = pos + 8
    event_type, state = _WATCHER_HEAD.unpack_from(r.buf, pos)
    return event_type, state, r.read_str("event path")


def encode_request(xid: int, request: Request) -> bytes:
    """The whole frame: length prefix + RequestHeader(xid, type) + body.

    Raises ``ValueError`` when a numeric field is out of range for its wire type."""
    try:
        return request.frame(xid)
    except struct.error as exc:
        raise ValueError(f"cannot encode {type(request).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# multi


MultiResult = Union[str, bool, ZnodeStat, ZookeeperError]  # runtime alias: no X | Y on 3.9

# op type -> result types the server may answer with (besides -1, an error result)
_MULTI_RESULTS = {1: (1, 15), 15: (1, 15), 19: (1, 15), 21: (1, 15), 2: (2,), 5: (5,), 13: (13,)}


class Transaction(_Record):
    """multi (14): an atomic batch of Create, Delete, SetData and CheckVersion records.

    ``deserialize`` gives one entry per op: the server path for a create, ``True`` for
    delete and check, the ``ZnodeStat`` for setData, and for a failed transaction an
    exception instance per op (``RolledBackError()`` for err 0, ...)."""

    __slots__ = ("operations",)
    type = 14

    def __init__(self, operations: Sequence[Request]) -> None:
        for op in operations:
            if op.type not in _MULTI_RESULTS:
                raise ValueError(f"{type(op).__name__} (type {op.type}) can't be in a multi")
        self.operations = list(operations)

    def serialize(self) -> bytes:
        parts = []
        for op in self.operations:
            op_type = op.type
            # create2 inside multi is answered like create, so send plain create.
            parts.append(_pack_multi_header(1 if op_type == 15 else op_type, 0, -1))
            parts.append(op.serialize())
        parts.append(MULTI_END)
        return b"".join(parts)

    def deserialize(self, r: Reader) -> list[MultiResult]:
        ops = self.operations
        results: list[MultiResult] = []
        while True:
            result_type, done, _ = _read_multi_header(r)
            if done:
                break
            if len(results) == len(ops):
                raise ProtocolError(f"multi reply has more results than the {len(ops)} ops")
            if result_type == -1:
                results.append(EXCEPTIONS[r.read_int()]())
                continue
            op_type = ops[len(results)].type
            if result_type not in _MULTI_RESULTS[op_type]:
                raise ProtocolError(f"multi result type {result_type} for an op of type {op_type}")
            results.append(_read_multi_result(r, result_type))
        if len(results) != len(ops):
            raise ProtocolError(f"multi reply has {len(results)} results for {len(ops)} ops")
        return results


def _read_multi_header(r: Reader) -> tuple[int, bool, int]:
    pos = r.pos
    if r.end - pos < MULTI_HEADER.size:
        raise ProtocolError(f"truncated MultiHeader: {r.end - pos} bytes, need 9")
    r.pos = pos + MULTI_HEADER.size
    result_type, done, err = MULTI_HEADER.unpack_from(r.buf, pos)
    return result_type, done != 0, err


def _read_multi_result(r: Reader, result_type: int) -> MultiResult:
    if result_type == 1 or result_type == 15:
        path = r.read_str("created path")
        if result_type == 15:
            r.read_stat()
        return path
    if result_type == 5:
        return r.read_stat()
    return True


PING_FRAME = encode_request(PING_XID, Ping())
