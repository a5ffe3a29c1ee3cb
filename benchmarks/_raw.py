"""The raw ceiling: a minimal ZooKeeper client on a plain socket (measurement only).

It encodes requests with :mod:`struct` by hand, keeps a window of requests in flight and
counts replies by their frame lengths without decoding them. Nothing here is shipped; it
shows how fast one Python process can drive one connection, so every kazoo figure can be
reported as a ratio to it.
"""

from __future__ import annotations

import socket
import struct
import time

_INT = struct.Struct(">i")
_HDR = struct.Struct(">ii")  # xid, opcode
_REPLY = struct.Struct(">iqi")  # xid, zxid, err
GET_DATA, SET_DATA, CREATE, DELETE, GET_CHILDREN, CREATE2 = 4, 5, 1, 2, 8, 15
EPHEMERAL_SEQUENTIAL = 3
# vector<ACL> with one entry: perms=ALL (31), id world:anyone
OPEN_ACL = struct.pack(">ii", 1, 31) + b"\x00\x00\x00\x05world" + b"\x00\x00\x00\x06anyone"


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return _INT.pack(len(data)) + data


def frame(xid: int, opcode: int, body: bytes) -> bytes:
    payload = _HDR.pack(xid, opcode) + body
    return _INT.pack(len(payload)) + payload


def get_data(xid: int, path: str, watch: bool = False) -> bytes:
    return frame(xid, GET_DATA, _string(path) + (b"\x01" if watch else b"\x00"))


def set_data(xid: int, path: str, value: bytes) -> bytes:
    return frame(xid, SET_DATA, _string(path) + _string(value) + _INT.pack(-1))


def create(xid: int, path: str, value: bytes = b"", flags: int = 0) -> bytes:
    return frame(xid, CREATE, _string(path) + _string(value) + OPEN_ACL + _INT.pack(flags))


def create2(xid: int, path: str, value: bytes = b"", flags: int = 0) -> bytes:
    return frame(xid, CREATE2, _string(path) + _string(value) + OPEN_ACL + _INT.pack(flags))


def delete(xid: int, path: str) -> bytes:
    return frame(xid, DELETE, _string(path) + _INT.pack(-1))


def get_children(xid: int, path: str) -> bytes:
    return frame(xid, GET_CHILDREN, _string(path) + b"\x00")


class RawClient:
    """One session on one socket; replies are read as whole frames."""

    def __init__(self, host: str, port: int, timeout_ms: int = 10000) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = struct.pack(">iqiq", 0, 0, timeout_ms, 0) + _string(b"\x00" * 16) + b"\x00"
        self.sock.sendall(_INT.pack(len(body)) + body)
        self.buf = b""
        self.read_frame()
        self.xid = 0

    def close(self) -> None:
        try:
            self.sock.sendall(frame(self.next_xid(), -11, b""))
            self.read_frame()
        except OSError:
            pass
        self.sock.close()

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def read_frame(self) -> bytes:
        buf = bytearray(self.buf)
        while True:
            if len(buf) >= 4:
                size = _INT.unpack_from(buf)[0]
                if len(buf) >= 4 + size:
                    payload = bytes(buf[4 : 4 + size])
                    self.buf = bytes(buf[4 + size :])
                    return payload
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk

    def call(self, request: bytes) -> tuple[int, int, bytes]:
        """Send one request and wait for its reply: ``(xid, err, body)``."""
        self.sock.sendall(request)
        return self.reply()

    def reply(self) -> tuple[int, int, bytes]:
        """The next reply that is not a ping's: ``(xid, err, body)``."""
        while True:
            payload = self.read_frame()
            xid, _zxid, err = _REPLY.unpack_from(payload)
            if xid != -2:
                return xid, err, payload[_REPLY.size :]

    def until_event(self) -> None:
        """Read frames until a watch notification (xid -1) has come."""
        while True:
            payload = self.read_frame()
            if _REPLY.unpack_from(payload)[0] == -1:
                return

    def pipeline(self, requests: list[bytes], outstanding: int) -> None:
        """Send ``requests`` keeping at most ``outstanding`` unanswered; wait for all."""
        total = len(requests)
        sent = min(outstanding, total)
        self.sock.sendall(b"".join(requests[:sent]))
        done = 0
        buf = b""
        recv = self.sock.recv
        while done < total:
            chunk = recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
            pos, size_buf, replies = 0, len(buf), 0
            while size_buf - pos >= 4:
                size = _INT.unpack_from(buf, pos)[0]
                if size_buf - pos - 4 < size:
                    break
                pos += 4 + size
                replies += 1
            buf = buf[pos:]
            done += replies
            more = min(replies, total - sent)
            if more:
                self.sock.sendall(b"".join(requests[sent : sent + more]))
                sent += more


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
