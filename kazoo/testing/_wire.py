"""The few raw wire exchanges the harness needs, written without the client.

Readiness probes and server-side session expiry must not depend on the code
under test, so this module speaks just enough of the protocol (PROTOCOL.md
§2.1, §2.2, §3, §12) over a plain blocking socket: ConnectRequest /
ConnectResponse, closeSession, and four-letter words.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

__all__ = [
    "ConnectResponse",
    "WireError",
    "check_serving",
    "close_session",
    "four_letter_word",
    "handshake",
    "probe",
]

_LEN = struct.Struct(">i")
# protocolVersion, lastZxidSeen, timeOut, sessionId, passwd length
_CONNECT_REQ = struct.Struct(">iqiqi")
# protocolVersion, timeOut, sessionId, passwd length
_CONNECT_RESP = struct.Struct(">iiqi")
_REQUEST_HEADER = struct.Struct(">ii")  # xid, type
_REPLY_HEADER = struct.Struct(">iqi")  # xid, zxid, err

CLOSE_SESSION = -11
EMPTY_PASSWORD = b"\x00" * 16
_MAX_FRAME = 1 << 20
_FOUR_LETTER_CAP = 1 << 20


class WireError(OSError):
    """The peer closed, timed out or sent something unexpected."""


@dataclass(frozen=True)
class ConnectResponse:
    timeout_ms: int  # negotiated; 0 = session expired / invalid
    session_id: int
    password: bytes
    read_only: bool

    def __repr__(self) -> str:  # never show the session password
        return (
            f"ConnectResponse(timeout_ms={self.timeout_ms}, "
            f"session_id={self.session_id:#x}, read_only={self.read_only})"
        )


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireError("timed out")
    return left


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(_remaining(deadline))
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout as exc:
            raise WireError("timed out") from exc
        if not chunk:
            raise WireError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def _read_frame(sock: socket.socket, deadline: float) -> bytes:
    (length,) = _LEN.unpack(_recv_exact(sock, 4, deadline))
    if length < 0 or length > _MAX_FRAME:
        raise WireError(f"bad frame length {length}")
    return _recv_exact(sock, length, deadline)


def _frame(payload: bytes) -> bytes:
    return _LEN.pack(len(payload)) + payload


def connect_request(
    session_id: int = 0,
    password: bytes = EMPTY_PASSWORD,
    timeout_ms: int = 10000,
    last_zxid: int = 0,
    read_only: bool = False,
) -> bytes:
    """The 49-byte framed ConnectRequest of PROTOCOL.md §2.1."""
    body = _CONNECT_REQ.pack(0, last_zxid, timeout_ms, session_id, len(password))
    return _frame(body + password + (b"\x01" if read_only else b"\x00"))


def parse_connect_response(payload: bytes) -> ConnectResponse:
    if len(payload) < _CONNECT_RESP.size:
        raise WireError(f"short ConnectResponse ({len(payload)} bytes)")
    _proto, timeout_ms, session_id, pw_len = _CONNECT_RESP.unpack_from(payload)
    start = _CONNECT_RESP.size
    if pw_len < 0 or start + pw_len > len(payload):
        raise WireError("bad password length in ConnectResponse")
    password = payload[start : start + pw_len]
    tail = payload[start + pw_len :]
    return ConnectResponse(timeout_ms, session_id, password, bool(tail[:1] == b"\x01"))


def handshake(
    address: tuple[str, int],
    timeout: float,
    session_id: int = 0,
    password: bytes = EMPTY_PASSWORD,
    timeout_ms: int = 10000,
    read_only: bool = False,
) -> tuple[socket.socket, ConnectResponse]:
    """Connect and do the handshake; returns the open socket and the response.

    Raises ``OSError`` (``WireError`` included) on refusal, close or time-out.
    The caller owns (and must close) the socket.
    """
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(address, timeout=timeout)
    try:
        sock.settimeout(_remaining(deadline))
        sock.sendall(connect_request(session_id, password, timeout_ms, 0, read_only))
        response = parse_connect_response(_read_frame(sock, deadline))
    except BaseException:
        sock.close()
        raise
    return sock, response


def close_session(sock: socket.socket, timeout: float, xid: int = 1) -> int:
    """Send closeSession (type -11, no body) and return the reply's error code."""
    deadline = time.monotonic() + timeout
    sock.settimeout(_remaining(deadline))
    sock.sendall(_frame(_REQUEST_HEADER.pack(xid, CLOSE_SESSION)))
    while True:
        reply = _read_frame(sock, deadline)
        if len(reply) < _REPLY_HEADER.size:
            raise WireError("short reply header")
        rxid, _zxid, err = _REPLY_HEADER.unpack_from(reply)
        if rxid == xid:
            return int(err)
        # anything else (a notification, xid -1) is skipped


def probe(address: tuple[str, int], timeout: float, read_only: bool = False) -> ConnectResponse:
    """One real handshake: make a session, close it again, return the response.

    ``read_only`` sets the request's readOnly byte (see ``check_serving`` for
    read-only servers).
    """
    sock, response = handshake(address, timeout, read_only=read_only)
    try:
        if response.timeout_ms <= 0:
            raise WireError("server refused a new session")
        try:
            close_session(sock, timeout)
        except OSError:
            pass  # the session still expires by itself; the probe succeeded
    finally:
        sock.close()
    return response


def check_serving(address: tuple[str, int], timeout: float, read_only: bool = False) -> None:
    """Raise ``OSError`` unless the server serves clients right now.

    Read-write: a real handshake (``probe``). With ``read_only=True`` a server in
    read-only mode counts too; it is recognised by ``isro`` answering ``ro``,
    because without local sessions a 3.8 read-only server answers a
    handshake with a bare error header (PROTOCOL.md §10).
    """
    if read_only and four_letter_word(address, "isro", timeout).strip() == "ro":
        return
    probe(address, timeout)


def four_letter_word(address: tuple[str, int], command: str, timeout: float = 5.0) -> str:
    """Send a four-letter word on a fresh connection and read the reply to EOF."""
    if len(command) != 4:
        raise ValueError("four-letter words have four letters")
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(command.encode("ascii"))
        while size < _FOUR_LETTER_CAP:
            sock.settimeout(_remaining(deadline))
            try:
                chunk = sock.recv(65536)
            except socket.timeout as exc:
                raise WireError("timed out") from exc
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def server_mode(address: tuple[str, int], timeout: float = 5.0) -> str | None:
    """``Mode:`` of ``srvr`` (leader / follower / observer / standalone / read-only)."""
    try:
        text = four_letter_word(address, "srvr", timeout)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    if "READ-ONLY" in text.upper():
        return "read-only"
    return None
