"""A scripted fake ZooKeeper peer for the driver tests (PROTOCOL.md §1-3, §7).

Every byte this peer sends is built here with plain :mod:`struct` calls, so a codec bug in
the client cannot hide itself by being mirrored in its own test peer. Frames received from
the client are parsed here too.

One :class:`FakeZooKeeper` listens on ``127.0.0.1`` (port 0) and runs **one** thread that
accepts connections, reads every frame, records it and answers it. Each accepted connection
gets a :class:`Peer` (its script): connection ``i`` takes ``scripts[i]`` when one was given
with :meth:`FakeZooKeeper.script`, else ``default``. A plain ``Peer()`` behaves like a
well-mannered server (handshake, ping, auth, setWatches, getData, exists, getChildren(2),
closeSession); its keyword arguments and ``on_request`` hook make it misbehave on cue.

Everything that touches a socket runs on the server thread: :meth:`Conn.send` and
:meth:`Conn.close`, called from a test, are queued and done there, in order.
:meth:`FakeZooKeeper.close` stops the thread (bounded join) and closes every socket.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = [
    "OP_AUTH",
    "OP_CLOSE",
    "OP_EXISTS",
    "OP_GET_CHILDREN",
    "OP_GET_CHILDREN2",
    "OP_GET_DATA",
    "OP_PING",
    "OP_SET_WATCHES",
    "OP_SET_WATCHES2",
    "Conn",
    "ConnectRequest",
    "FakeZooKeeper",
    "Peer",
    "Request",
    "connect_response",
    "frame",
    "reply",
    "stat_bytes",
    "watch_event",
]

# -- wire constants (PROTOCOL.md §3, §4) -------------------------------------------------------

OP_EXISTS = 3
OP_GET_DATA = 4
OP_GET_CHILDREN = 8
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_SET_WATCHES2 = 105
OP_CLOSE = -11

XID_WATCH = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

ERR_NONODE = -101
ERR_UNIMPLEMENTED = -6

ZERO_PASSWD = b"\x00" * 16

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_REQUEST_HEADER = struct.Struct(">ii")  # xid, type
_REPLY_HEADER = struct.Struct(">iqi")  # xid, zxid, err
_CONNECT_REQUEST_HEAD = struct.Struct(">iqiq")  # version, lastZxidSeen, timeOut, sessionId
_CONNECT_RESPONSE_HEAD = struct.Struct(">iiq")  # version, timeOut, sessionId
# czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid
_STAT = struct.Struct(">qqqqiiiqiiq")
_WATCHER_EVENT_HEAD = struct.Struct(">ii")  # type, state

#: Largest client frame this peer accepts (the server default is 0xfffff, PROTOCOL.md §1).
MAX_CLIENT_FRAME = 0xFFFFF
#: Bound on one blocking send to the client.
SEND_TIMEOUT = 5.0


# -- bytes the peer sends -------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """A length-prefixed frame."""
    return _INT.pack(len(payload)) + payload


def buffer(data: bytes | None) -> bytes:
    """A jute buffer (``None`` is the null buffer, length -1)."""
    if data is None:
        return _INT.pack(-1)
    return _INT.pack(len(data)) + data


def ustring(text: str | None) -> bytes:
    """A jute ustring (``None`` is the null string)."""
    return buffer(None if text is None else text.encode("utf-8"))


def ustring_vector(items: list[str]) -> bytes:
    return _INT.pack(len(items)) + b"".join(ustring(item) for item in items)


def stat_bytes(
    czxid: int = 1,
    mzxid: int = 1,
    ctime: int = 1_700_000_000_000,
    mtime: int = 1_700_000_000_000,
    version: int = 0,
    cversion: int = 0,
    aversion: int = 0,
    ephemeral_owner: int = 0,
    data_length: int = 0,
    num_children: int = 0,
    pzxid: int = 1,
) -> bytes:
    """A 68-byte Stat (PROTOCOL.md §5.1)."""
    return _STAT.pack(
        czxid,
        mzxid,
        ctime,
        mtime,
        version,
        cversion,
        aversion,
        ephemeral_owner,
        data_length,
        num_children,
        pzxid,
    )


def reply(xid: int, zxid: int, err: int = 0, body: bytes = b"") -> bytes:
    """A whole reply frame: ReplyHeader + body."""
    return frame(_REPLY_HEADER.pack(xid, zxid, err) + body)


def connect_response(
    timeout_ms: int, session_id: int, passwd: bytes, read_only: bool | None = False
) -> bytes:
    """A whole ConnectResponse frame (37 bytes of payload, 36 when ``read_only`` is None)."""
    payload = _CONNECT_RESPONSE_HEAD.pack(0, timeout_ms, session_id) + buffer(passwd)
    if read_only is not None:
        payload += b"\x01" if read_only else b"\x00"
    return frame(payload)


def watch_event(event_type: int, state: int, path: str, zxid: int = -1) -> bytes:
    """A whole notification frame (xid -1, PROTOCOL.md §3, §5.3)."""
    body = _WATCHER_EVENT_HEAD.pack(event_type, state) + ustring(path)
    return reply(XID_WATCH, zxid, 0, body)


# -- parsing what the client sends -----------------------------------------------------------


class _Cursor:
    """Reads jute fields from a client payload; raises ValueError when it runs out."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def read_int(self) -> int:
        return int(_INT.unpack(self.take(4))[0])

    def read_long(self) -> int:
        return int(_LONG.unpack(self.take(8))[0])

    def read_bool(self) -> bool:
        return self.take(1) != b"\x00"

    def read_buffer(self) -> bytes | None:
        n = self.read_int()
        return None if n == -1 else self.take(n)

    def read_ustring(self) -> str | None:
        raw = self.read_buffer()
        return None if raw is None else raw.decode("utf-8")

    def read_ustring_vector(self) -> list[str] | None:
        n = self.read_int()
        if n == -1:
            return None
        return [self.read_ustring() or "" for _ in range(n)]

    def at_end(self) -> bool:
        return self.pos == len(self.data)


@dataclass(frozen=True)
class ConnectRequest:
    """The first frame of a connection (PROTOCOL.md §2.1)."""

    conn: int  # index of the connection it came on
    raw: bytes  # the payload, without the length prefix
    protocol_version: int
    last_zxid: int
    timeout_ms: int
    session_id: int
    passwd: bytes | None
    read_only: bool | None  # None: the trailing byte was absent

    @classmethod
    def parse(cls, conn: int, raw: bytes) -> ConnectRequest:
        cur = _Cursor(raw)
        version, last_zxid, timeout_ms, session_id = _CONNECT_REQUEST_HEAD.unpack(
            cur.take(_CONNECT_REQUEST_HEAD.size)
        )
        passwd = cur.read_buffer()
        read_only = None if cur.at_end() else cur.read_bool()
        if not cur.at_end():
            raise ValueError(f"{len(raw) - cur.pos} stray bytes after the ConnectRequest")
        return cls(conn, raw, version, last_zxid, timeout_ms, session_id, passwd, read_only)


_PATH_OPS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 17, 18, 19, 21, 103, 104, 106}
_WATCH_FLAG_OPS = {OP_EXISTS, OP_GET_DATA, OP_GET_CHILDREN, OP_GET_CHILDREN2}


@dataclass(frozen=True)
class Request:
    """A later frame: RequestHeader + body (PROTOCOL.md §3)."""

    conn: int
    raw: bytes  # the payload, without the length prefix
    xid: int
    op: int
    body: bytes
    path: str | None = None  # for ops whose record starts with a path
    watch: bool | None = None  # for exists / getData / getChildren(2)

    @classmethod
    def parse(cls, conn: int, raw: bytes) -> Request:
        xid, op = _REQUEST_HEADER.unpack(raw[: _REQUEST_HEADER.size])
        body = raw[_REQUEST_HEADER.size :]
        path = watch = None
        if op in _PATH_OPS:
            cur = _Cursor(body)
            path = cur.read_ustring()
            if op in _WATCH_FLAG_OPS:
                watch = cur.read_bool()
        return cls(conn, raw, xid, op, body, path, watch)

    def auth(self) -> tuple[int, str | None, bytes | None]:
        """``(type, scheme, auth)`` of an AuthPacket."""
        cur = _Cursor(self.body)
        return cur.read_int(), cur.read_ustring(), cur.read_buffer()

    def set_watches(self) -> tuple[int, list[list[str]]]:
        """``(relativeZxid, [dataWatches, existWatches, childWatches, ...])`` of SetWatches(2)."""
        cur = _Cursor(self.body)
        zxid = cur.read_long()
        lists = 5 if self.op == OP_SET_WATCHES2 else 3
        vectors = [cur.read_ustring_vector() or [] for _ in range(lists)]
        if not cur.at_end():
            raise ValueError("stray bytes after SetWatches")
        return zxid, vectors


# -- per-connection scripts -----------------------------------------------------------------

#: ``on_request(server, conn, request) -> bool``: True when the hook took care of the request.
RequestHook = Callable[["FakeZooKeeper", "Conn", Request], bool]


class Peer:
    """What the peer does on one connection; the defaults make a well-behaved server.

    :param timeout_ms: negotiated timeout to answer (default: the server's, else the
        requested one).
    :param session_id, passwd: force these into the ConnectResponse.
    :param read_only: the ConnectResponse readOnly byte (``None``: leave it out).
    :param expire: answer the handshake "session expired" (timeOut 0) and close.
    :param handshake: ``"answer"``, ``"silent"`` (never answer, keep the socket open) or
        ``"eof"`` (close at once).
    :param handshake_bytes: send exactly these bytes instead of a ConnectResponse.
    :param after_handshake: raw bytes sent right behind the ConnectResponse (one send).
    :param then: after the handshake: ``"serve"`` requests, stay ``"silent"``, or ``"eof"``.
    :param on_request: a hook that may answer (or not) a request in its own way.
    """

    def __init__(
        self,
        *,
        timeout_ms: int | None = None,
        session_id: int | None = None,
        passwd: bytes | None = None,
        read_only: bool | None = False,
        expire: bool = False,
        handshake: str = "answer",
        handshake_bytes: bytes | None = None,
        after_handshake: bytes = b"",
        then: str = "serve",
        on_request: RequestHook | None = None,
    ) -> None:
        if handshake not in ("answer", "silent", "eof"):
            raise ValueError(handshake)
        if then not in ("serve", "silent", "eof"):
            raise ValueError(then)
        self.timeout_ms = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self.read_only = read_only
        self.expire = expire
        self.handshake = handshake
        self.handshake_bytes = handshake_bytes
        self.after_handshake = after_handshake
        self.then = then
        self.on_request = on_request

    def on_connect(self, server: FakeZooKeeper, conn: Conn, req: ConnectRequest) -> None:
        if self.handshake == "silent":
            return
        if self.handshake == "eof":
            conn.close()
            return
        if self.handshake_bytes is not None:
            conn.send(self.handshake_bytes)
            if self.then == "eof":
                conn.close()
            return
        read_only = self.read_only if req.read_only is not None else None
        if self.expire:
            conn.send(connect_response(0, 0, ZERO_PASSWD, read_only))
            conn.close()
            return
        session_id, passwd = server.session_for(req)
        if session_id == 0:  # unknown session: the server says "expired" (PROTOCOL.md §2.3)
            conn.send(connect_response(0, 0, ZERO_PASSWD, read_only))
            conn.close()
            return
        session_id = self.session_id if self.session_id is not None else session_id
        passwd = self.passwd if self.passwd is not None else passwd
        timeout = self.timeout_ms or server.timeout_ms or req.timeout_ms
        conn.session_id = session_id
        # after_handshake goes out in the same send, so it usually arrives in the same read
        conn.send(connect_response(timeout, session_id, passwd, read_only) + self.after_handshake)
        if self.then == "eof":
            conn.close()

    def on_request_frame(self, server: FakeZooKeeper, conn: Conn, req: Request) -> None:
        if self.then != "serve":
            return
        if self.on_request is not None and self.on_request(server, conn, req):
            return
        server.answer(conn, req)


def on_op(
    op: int, action: Callable[[FakeZooKeeper, Conn, Request], None], times: int = 1
) -> RequestHook:
    """A hook that runs ``action`` instead of the normal answer for the first ``times``
    requests of opcode ``op``."""
    left = [times]

    def hook(server: FakeZooKeeper, conn: Conn, req: Request) -> bool:
        if req.op != op or left[0] <= 0:
            return False
        left[0] -= 1
        action(server, conn, req)
        return True

    return hook


# -- the server -----------------------------------------------------------------------------


@dataclass
class Conn:
    """The server side of one accepted client connection."""

    index: int
    server: FakeZooKeeper
    sock: socket.socket | None
    peer: Peer
    connect: ConnectRequest | None = None
    requests: list[Request] = field(default_factory=list)
    session_id: int = 0
    closed: bool = False  # by either side
    client_eof: bool = False  # the client closed (or reset) it
    _buf: bytearray = field(default_factory=bytearray)

    def send(self, data: bytes) -> None:
        """Send raw bytes (done on the server thread, in order)."""
        self.server._post(self, data)

    def close(self) -> None:
        """Close the connection after what was queued before (on the server thread)."""
        self.server._post(self, None)


def _wait_on(cond: threading.Condition, left: float) -> None:
    cond.wait(left)


class FakeZooKeeper:
    """A fake ZooKeeper server on 127.0.0.1, run by one thread."""

    def __init__(
        self,
        *,
        timeout_ms: int | None = None,
        default: Peer | None = None,
        pause: Callable[[threading.Condition, float], None] | None = None,
    ) -> None:
        self.timeout_ms = timeout_ms  # negotiated timeout (None: echo the requested one)
        # How wait_for() waits for the server thread (``pause(cond, left)``, cond held): by
        # default cond.wait(left); a test whose client runs on a green hub in the test's own
        # thread passes one that yields to that hub instead of blocking it.
        self._pause = pause if pause is not None else _wait_on
        self.default = default if default is not None else Peer()
        self.zxid = 0x100  # returned in read replies
        self.nodes: dict[str, tuple[bytes | None, bytes]] = {}  # path -> (data, stat)
        self.children: dict[str, list[str]] = {}
        self.sessions: dict[int, bytes] = {}
        self.closed_sessions: list[int] = []
        self.errors: list[str] = []  # problems of the peer itself (bad frames, hook errors)
        self.conns: list[Conn] = []
        self._scripts: list[Peer | None] = []
        self._next_session = 0x0123_4567_0000_0001
        self._cond = threading.Condition()
        self._commands: deque[tuple[Any, Any]] = deque()
        self._stop = False
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()
        self._thread = threading.Thread(target=self._run, name="fake-zookeeper", daemon=True)
        self._thread.start()

    # -- configuration, from the test thread --------------------------------------------

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def script(self, *peers: Peer | None) -> FakeZooKeeper:
        """Scripts for the next connections, in order (``None``: the default)."""
        with self._cond:
            self._scripts.extend(peers)
        return self

    def add_node(self, path: str, data: bytes | None = b"", **stat: int) -> None:
        length = 0 if data is None else len(data)
        stat.setdefault("data_length", length)
        self.nodes[path] = (data, stat_bytes(**stat))

    @property
    def connection_count(self) -> int:
        with self._cond:
            return len(self.conns)

    def conn(self, index: int) -> Conn:
        with self._cond:
            return self.conns[index]

    def requests(self, op: int | None = None, conn: int | None = None) -> list[Request]:
        """Requests received so far (optionally of one opcode, on one connection)."""
        with self._cond:
            conns = self.conns if conn is None else [self.conns[conn]]
            return [r for c in conns for r in c.requests if op is None or r.op == op]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
        """Wait (bounded) until ``predicate()`` is truthy; it is evaluated under the lock
        after every connection, frame and close. Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout} s waiting for {what or predicate}"
                    )
                self._pause(self._cond, left)

    def poke(self) -> None:
        """Wake every wait_for() so it looks at its predicate again."""
        with self._cond:
            self._cond.notify_all()

    def wait_for_request(
        self, op: int, conn: int | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[Request]:
        """Wait until ``count`` requests of opcode ``op`` arrived; return them."""
        return self.wait_for(  # type: ignore[no-any-return]
            lambda: (lambda found: found if len(found) >= count else None)(self.requests(op, conn)),
            timeout,
            f"{count} request(s) of type {op} on connection {conn}",
        )

    def wait_for_connect(self, index: int, timeout: float = 5.0) -> ConnectRequest:
        """Wait until connection ``index`` has sent its ConnectRequest."""
        return self.wait_for(  # type: ignore[no-any-return]
            lambda: len(self.conns) > index and self.conns[index].connect,
            timeout,
            f"the ConnectRequest of connection {index}",
        )

    def wait_for_client_close(self, index: int, timeout: float = 5.0) -> None:
        """Wait until the client closed connection ``index``."""
        self.wait_for(
            lambda: len(self.conns) > index and self.conns[index].client_eof,
            timeout,
            f"the client to close connection {index}",
        )

    def wait_for_closed(self, index: int, timeout: float = 5.0) -> None:
        """Wait until connection ``index`` is closed, by either side."""
        self.wait_for(
            lambda: len(self.conns) > index and self.conns[index].closed,
            timeout,
            f"connection {index} to be closed",
        )

    # -- session table (server thread) ------------------------------------------------

    def session_for(self, req: ConnectRequest) -> tuple[int, bytes]:
        """Resume a known session, make a new one for id 0, or ``(0, zeros)`` (expired)."""
        if req.session_id == 0:
            session_id = self._next_session
            self._next_session += 1
            passwd = os.urandom(16)
            self.sessions[session_id] = passwd
            return session_id, passwd
        known = self.sessions.get(req.session_id)
        if known is not None and known == req.passwd:
            return req.session_id, known
        return 0, ZERO_PASSWD

    def resume(self, index: int, timeout_ms: int = 5000) -> None:
        """Answer the held-back handshake (``Peer(handshake="silent")``) of connection
        ``index`` by resuming the session it asks for."""
        req = self.wait_for_connect(index)
        conn = self.conn(index)
        conn.session_id = req.session_id
        conn.send(connect_response(timeout_ms, req.session_id, self.sessions[req.session_id]))

    def expire_session(self, session_id: int) -> None:
        """Forget a session: a later resume is answered with timeOut 0."""
        self.sessions.pop(session_id, None)

    # -- the normal answers -------------------------------------------------------------

    def answer(self, conn: Conn, req: Request) -> None:
        """Answer ``req`` like a well-behaved server would."""
        op, xid, zxid = req.op, req.xid, self.zxid
        if op == OP_PING:
            conn.send(reply(xid, zxid))
        elif op == OP_AUTH:
            conn.send(reply(xid, 0))
        elif op in (OP_SET_WATCHES, OP_SET_WATCHES2):
            conn.send(reply(xid, zxid))
        elif op == OP_CLOSE:
            self.sessions.pop(conn.session_id, None)
            self.closed_sessions.append(conn.session_id)
            conn.send(reply(xid, zxid))
            conn.close()
        elif op in (OP_GET_DATA, OP_EXISTS):
            node = self.nodes.get(req.path or "")
            if node is None:
                conn.send(reply(xid, zxid, ERR_NONODE))
            elif op == OP_GET_DATA:
                conn.send(reply(xid, zxid, 0, buffer(node[0]) + node[1]))
            else:
                conn.send(reply(xid, zxid, 0, node[1]))
        elif op in (OP_GET_CHILDREN, OP_GET_CHILDREN2):
            node = self.nodes.get(req.path or "")
            if node is None:
                conn.send(reply(xid, zxid, ERR_NONODE))
                return
            body = ustring_vector(self.children.get(req.path or "", []))
            if op == OP_GET_CHILDREN2:
                body += node[1]
            conn.send(reply(xid, zxid, 0, body))
        else:  # like a real server: UNIMPLEMENTED, then close (PROTOCOL.md §3)
            conn.send(reply(xid, -1, ERR_UNIMPLEMENTED))
            conn.close()

    # -- vanish / revive ----------------------------------------------------------------

    def vanish(self) -> None:
        """Close the listener and every connection (the server "disappears")."""
        done = threading.Event()
        self._post(None, ("vanish", done))
        if not done.wait(5.0):
            raise AssertionError("the fake server did not vanish in time")

    def revive(self) -> None:
        """Listen again on the same port."""
        done = threading.Event()
        self._post(None, ("revive", done))
        if not done.wait(5.0):
            raise AssertionError("the fake server did not come back in time")
        if self._listener is None:
            raise AssertionError(f"cannot listen on port {self.port} again: {self.errors}")

    # -- shutting down ------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (bounded join) and close every socket. Idempotent."""
        self._stop = True
        self._wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the fake server thread did not stop")
        self._close_all()

    def __enter__(self) -> FakeZooKeeper:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the server thread --------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._selector.register(sock, selectors.EVENT_READ)

    def _post(self, conn: Conn | None, item: Any) -> None:
        self._commands.append((conn, item))
        if threading.current_thread() is not self._thread:
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\x00")
        except OSError:  # full (a wake-up is pending anyway) or closed
            pass

    def _run(self) -> None:
        try:
            while not self._stop:
                for key, _ in self._selector.select(1.0):
                    if key.fileobj is self._wake_r:
                        self._drain_wake()
                    elif key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._read(key.data)
                    self._run_commands()
                self._run_commands()
        except Exception as exc:  # a bug in the fake itself: record it for the test
            self.errors.append(f"server thread died: {exc!r}")
        finally:
            with self._cond:
                self._cond.notify_all()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(True)
        sock.settimeout(SEND_TIMEOUT)
        with self._cond:
            index = len(self.conns)
            peer = self._scripts[index] if index < len(self._scripts) else None
            conn = Conn(index, self, sock, peer if peer is not None else self.default)
            self.conns.append(conn)
            self._cond.notify_all()
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: Conn) -> None:
        if conn.sock is None:
            return
        try:
            data = conn.sock.recv(256 * 1024)
        except OSError:
            data = b""
        if not data:
            conn.client_eof = True
            self._drop(conn)
            return
        conn._buf += data
        while len(conn._buf) >= 4 and not conn.closed:
            (length,) = _INT.unpack_from(conn._buf)
            if length < 0 or length > MAX_CLIENT_FRAME:
                self.errors.append(f"connection {conn.index}: client frame length {length}")
                self._drop(conn)
                return
            if len(conn._buf) < 4 + length:
                return
            payload = bytes(conn._buf[4 : 4 + length])
            del conn._buf[: 4 + length]
            self._on_frame(conn, payload)

    def _on_frame(self, conn: Conn, payload: bytes) -> None:
        try:
            if conn.connect is None:
                req: Any = ConnectRequest.parse(conn.index, payload)
                with self._cond:
                    conn.connect = req
                    self._cond.notify_all()
                conn.peer.on_connect(self, conn, req)
            else:
                req = Request.parse(conn.index, payload)
                with self._cond:
                    conn.requests.append(req)
                    self._cond.notify_all()
                conn.peer.on_request_frame(self, conn, req)
        except Exception as exc:
            self.errors.append(f"connection {conn.index}: {exc!r} on frame {payload[:64]!r}")
            self._drop(conn)

    def _run_commands(self) -> None:
        while self._commands:
            conn, item = self._commands.popleft()
            if conn is None:
                self._run_control(*item)
            elif conn.closed or conn.sock is None:
                continue
            elif item is None:
                self._drop(conn)
            else:
                try:
                    conn.sock.sendall(item)
                except OSError:
                    conn.client_eof = True
                    self._drop(conn)

    def _run_control(self, name: str, done: threading.Event) -> None:
        if name == "vanish":
            self._close_listener()
            for conn in list(self.conns):
                self._drop(conn)
        elif name == "revive" and self._listener is None:
            try:
                self._listen()
            except OSError as exc:
                self.errors.append(f"cannot listen again: {exc!r}")
        done.set()

    def _drop(self, conn: Conn) -> None:
        sock = conn.sock
        if sock is not None:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        with self._cond:
            conn.sock = None
            conn.closed = True
            self._cond.notify_all()

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def _close_all(self) -> None:
        self._close_listener()
        for conn in list(self.conns):
            self._drop(conn)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
