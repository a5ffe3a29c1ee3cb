"""The sans-I/O session core: bytes in, events out.

One :class:`Session` lives as long as a client is started. It owns the
protocol state of the current connection (handshake, xids, the FIFO of
requests in flight, pings) and of the session across connections (id,
password, last zxid, watches, auth data to replay). It never touches a
socket or a clock: the driver passes ``now`` and moves the bytes.

Outputs are appended to :attr:`Session.events` in the order they happened:

* ``(EV_RESULT, handle, value, exception)``: a request finished;
* ``(EV_WATCH, watcher, WatchedEvent)``: a watch fired;
* ``(EV_STATE, KeeperState)``: the session state changed.

Requests are :class:`Pending` objects built by :mod:`kazoo._ops`.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable

from kazoo.exceptions import (
    EXCEPTIONS,
    AuthFailedError,
    ConnectionClosedError,
    ConnectionDropped,
    ConnectionLoss,
    NoNodeError,
    NoWatcherError,
    ProtocolError,
    SessionExpiredError,
)
from kazoo.protocol import serialization as ser
from kazoo.protocol._jute import Reader
from kazoo.protocol.framing import FrameReader
from kazoo.protocol.paths import unchroot
from kazoo.protocol.states import EVENT_TYPE_MAP, EventType, KeeperState, WatchedEvent
from kazoo.protocol.watches import WatchKind, WatchRegistry

log = logging.getLogger("kazoo.protocol.session")

EV_RESULT = 0
EV_WATCH = 1
EV_STATE = 2

_MAX_XID = 2**31 - 1
_ZERO_PASSWD = b"\x00" * 16
_CONNECTED_STATES = (KeeperState.CONNECTED, KeeperState.CONNECTED_RO)
_unpack_reply_header = ser.REPLY_HEADER.unpack_from


class Pending:
    """One request on its way: record, completion handle and what to do with the reply.

    ``post`` turns the decoded body into the caller's value; ``watch`` is
    ``(watcher, kind_on_success, kind_on_nonode)`` or ``None``.
    """

    __slots__ = ("request", "handle", "post", "watch", "xid")

    def __init__(
        self,
        request: Any,
        handle: Any,
        post: Callable[[Any], Any] | None = None,
        watch: tuple[Any, WatchKind | None, WatchKind | None] | None = None,
    ) -> None:
        self.request = request
        self.handle = handle
        self.post = post
        self.watch = watch
        self.xid = 0


# The session state machine. Keys: (state, input) -> next state.
TRANSITIONS = {
    (KeeperState.CLOSED, "start"): KeeperState.CONNECTING,
    (KeeperState.CONNECTING, "connected"): KeeperState.CONNECTED,
    (KeeperState.CONNECTING, "connected_ro"): KeeperState.CONNECTED_RO,
    (KeeperState.CONNECTING, "expired"): KeeperState.EXPIRED_SESSION,
    (KeeperState.CONNECTING, "auth_failed"): KeeperState.AUTH_FAILED,
    (KeeperState.CONNECTING, "dropped"): KeeperState.CONNECTING,
    (KeeperState.CONNECTED, "dropped"): KeeperState.CONNECTING,
    (KeeperState.CONNECTED_RO, "dropped"): KeeperState.CONNECTING,
    (KeeperState.CONNECTED, "auth_failed"): KeeperState.AUTH_FAILED,
    (KeeperState.CONNECTED_RO, "auth_failed"): KeeperState.AUTH_FAILED,
    (KeeperState.EXPIRED_SESSION, "dropped"): KeeperState.CONNECTING,
    (KeeperState.EXPIRED_SESSION, "start"): KeeperState.CONNECTING,
}
for _state in KeeperState:
    TRANSITIONS[(_state, "close")] = KeeperState.CLOSED

# Phases of one connection (internal, not part of the public state).
PH_IDLE = 0  # no connection
PH_HANDSHAKE = 1  # ConnectRequest sent, waiting for the ConnectResponse
PH_AUTH = 2  # auth packets replayed, waiting for their replies
PH_OPEN = 3  # serving requests
PH_CLOSING = 4  # closeSession sent (stop, or abandoning a timed-out session)


class Session:
    """Protocol and session state of one started client."""

    __slots__ = (
        "_abandon",
        "_close_pending",
        "_closing_since",
        "_frames",
        "_handshake_deadline",
        "_last_heard",
        "_last_recv",
        "_last_send",
        "_ping_outstanding",
        "_rearming",
        "_resumed",
        "_ro_connection",
        "_ro_session",
        "_xid",
        "auth_data",
        "auth_eof_strikes",
        "auth_waiters",
        "chroot",
        "events",
        "finished",
        "inflight",
        "last_zxid",
        "max_frame_size",
        "negotiated_timeout_ms",
        "out",
        "passwd",
        "phase",
        "queued",
        "read_only",
        "requested_timeout_ms",
        "seen_rw",
        "session_id",
        "state",
        "watches",
    )

    def __init__(
        self,
        *,
        timeout_ms: int,
        read_only: bool = False,
        max_frame_size: int = 0xFFFFF + 65536,
        chroot: str = "",
        client_id: tuple[int, bytes] | None = None,
        auth_data: Any = (),
    ) -> None:
        self.requested_timeout_ms = int(timeout_ms)
        self.negotiated_timeout_ms = 0
        self.read_only = bool(read_only)
        self.max_frame_size = max_frame_size
        self.chroot = chroot
        self.session_id, self.passwd = client_id if client_id else (0, _ZERO_PASSWD)
        self.last_zxid = 0
        self.auth_data = auth_data  # a live collection of (scheme, credential)
        self.state = KeeperState.CLOSED
        self.phase = PH_IDLE
        self.watches: WatchRegistry[Any] = WatchRegistry()
        self.events: list[tuple[Any, ...]] = []
        self.queued: list[Pending] = []  # waiting for a usable connection
        self.inflight: deque[Pending] = deque()
        self.auth_waiters: list[Any] = []  # handles of auth packets in flight (few)
        self.out: list[bytes] = []
        self._frames = FrameReader(max_frame_size)
        self._xid = 0
        self._last_recv = 0.0
        self._last_send = 0.0
        self._last_heard = 0.0  # last frame from any server on this session
        self._handshake_deadline = 0.0
        self._ping_outstanding = False
        # (id, password) of a session given up by the LOST timer, closed on the
        # next connection that reaches a server before a new session is made
        self._abandon: tuple[int, bytes] | None = None
        self._close_pending: Pending | None = None
        self._closing_since: float | None = None  # when a closeSession was first waited on
        self.auth_eof_strikes = 0
        self.finished = False  # the current connection should be closed by the driver
        self._ro_connection = False  # the server of this connection is read-only
        self._ro_session = False  # the session was made by a read-only server
        self.seen_rw = False  # a read-write server has accepted this client
        self._resumed = False  # this connection resumed the session (watches get re-armed)
        self._rearming = 0  # SetWatches requests of this connection not answered yet

    # -- state machine -------------------------------------------------

    def _transition(self, event: str) -> None:
        new = TRANSITIONS.get((self.state, event))
        if new is None:
            raise RuntimeError(f"no transition from {self.state} on {event!r}")
        if new is not self.state:
            self.state = new
            self.events.append((EV_STATE, new))

    @property
    def usable(self) -> bool:
        """True while requests may be written to the connection."""
        return self.phase == PH_OPEN

    @property
    def timeout_s(self) -> float:
        return (self.negotiated_timeout_ms or self.requested_timeout_ms) / 1000.0

    def start(self, now: float) -> None:
        self._transition("start")
        self._last_heard = now

    # -- connection lifecycle -----------------------------------------

    def begin_connect(self, now: float, handshake_timeout: float) -> bytes:
        """A new TCP connection is up: return the ConnectRequest frame to send."""
        self._frames = FrameReader(self.max_frame_size)
        self.phase = PH_HANDSHAKE
        self.finished = False
        self._ping_outstanding = False
        self._last_recv = self._last_send = now
        self._handshake_deadline = now + handshake_timeout
        self.out = []  # nothing of a dead connection goes out on this one
        self._closing_since = None
        if self.session_id and self._ro_session and not self.seen_rw:
            # A session made on a read-only server is local to it: start a
            # fresh one until a read-write server has been reached once.
            self.session_id, self.passwd = 0, _ZERO_PASSWD
        if self.session_id == 0:
            self.last_zxid = 0
        if self.state is KeeperState.EXPIRED_SESSION:
            self._transition("dropped")
        session_id, passwd = self._abandon or (self.session_id, self.passwd)
        req = ser.Connect(
            0, self.last_zxid, self.requested_timeout_ms, session_id, passwd, self.read_only
        )
        return ser.encode_connect(req)

    def connection_lost(self, now: float) -> None:
        """The connection broke (or the driver dropped it)."""
        was = self.phase
        self.phase = PH_IDLE
        self.finished = False
        for pending in self.inflight:
            if pending is not self._close_pending:  # _closed() answers that one
                self._fail(pending, ConnectionLoss("connection lost"))
        self.inflight.clear()
        if self._abandon is not None and was != PH_IDLE:
            self._abandon = None  # one try to close it; the server expires it anyway
            return
        if self.auth_waiters:
            self.auth_eof_strikes += 1
            if self.auth_eof_strikes >= 2 or any(h is not None for h in self.auth_waiters):
                self._auth_failed("the server closed the connection during authentication")
                return
        self.auth_waiters.clear()
        if was == PH_CLOSING:
            self._closed()
            return
        if self.state in _CONNECTED_STATES:
            self._transition("dropped")
        elif self.state is KeeperState.EXPIRED_SESSION:
            self._transition("dropped")

    def close(self, handle: Any) -> bool:
        """Ask to end the session. True when a closeSession request was queued."""
        if self.phase in (PH_OPEN, PH_AUTH):
            pending = Pending(ser.Close(), handle)
            self._close_pending = pending
            self._send(pending)
            self.phase = PH_CLOSING
            return True
        self._closed()
        return False

    @property
    def handshake_done(self) -> bool:
        """True once the current connection got a ConnectResponse."""
        return self.phase >= PH_AUTH

    def abort(self) -> None:
        """End at once, without a closeSession (the I/O owner is failing)."""
        if self.state is not KeeperState.CLOSED:
            self._closed()

    def _closed(self) -> None:
        self.phase = PH_IDLE
        self.finished = True
        self._fail_all(ConnectionLoss("the client was stopped"))
        self._drain_watches(KeeperState.CLOSED)
        if self._close_pending is not None:
            self.events.append((EV_RESULT, self._close_pending.handle, True, None))
            self._close_pending = None
        self._transition("close")

    # -- requests ------------------------------------------------------

    def submit(self, pending: Pending) -> None:
        """Take a request from a caller: send it now or keep it for later."""
        state = self.state
        if state is KeeperState.CLOSED or (self.phase == PH_CLOSING and self._abandon is None):
            self._fail(pending, ConnectionClosedError("Connection has been closed"))
        elif state is KeeperState.AUTH_FAILED:
            self._fail(pending, AuthFailedError("authentication failed"))
        elif type(pending.request) is ser.Auth:
            self._send_auth(pending.request, pending.handle)
        elif self.phase == PH_OPEN:
            self._send(pending)
        else:
            self.queued.append(pending)

    def _send(self, pending: Pending) -> None:
        xid = self._xid + 1  # xids run from 1 to 2**31-1, then wrap
        if xid > _MAX_XID:
            xid = 1
        self._xid = xid
        pending.xid = xid
        self.out.append(ser.encode_request(xid, pending.request))
        self.inflight.append(pending)

    def _send_auth(self, request: Any, handle: Any) -> None:
        if self.phase in (PH_OPEN, PH_AUTH):
            self.out.append(ser.encode_request(ser.AUTH_XID, request))
            self.auth_waiters.append(handle)
        elif handle is not None:
            # Not connected: the credential is replayed on connect (the client
            # added it to auth_data); answer once that replay has succeeded.
            self.queued.append(Pending(request, handle))

    def take_output(self, now: float) -> bytes:
        """Bytes to write now (one send for everything queued)."""
        out = self.out
        if not out:
            return b""
        self._last_send = now
        self.out = []
        return out[0] if len(out) == 1 else b"".join(out)

    # -- timers --------------------------------------------------------

    def next_deadline(self) -> float:
        if self.phase == PH_IDLE:
            return self._last_heard + self.timeout_s
        if self.phase == PH_HANDSHAKE:
            return self._handshake_deadline
        t = self.timeout_s
        ping_at = self._last_send + t / 3.0
        read_deadline = self._last_recv + t * 2.0 / 3.0
        if self.phase == PH_CLOSING:
            since = self._closing_since
            return min(read_deadline, since + t * 2.0 / 3.0 if since is not None else ping_at)
        return min(ping_at, read_deadline)

    def check_timers(self, now: float) -> None:
        """Queue a ping when due; raise ConnectionDropped on a dead link."""
        if self.phase == PH_IDLE:
            return
        if self.phase == PH_HANDSHAKE:
            if now >= self._handshake_deadline:
                raise ConnectionDropped("no handshake reply in time")
            return
        t = self.timeout_s
        if now - self._last_recv >= t * 2.0 / 3.0:
            raise ConnectionDropped(f"nothing received for {now - self._last_recv:.1f} s")
        if self.phase == PH_CLOSING:
            if self._closing_since is None:
                self._closing_since = now
            elif now - self._closing_since >= t * 2.0 / 3.0:
                raise ConnectionDropped("no reply to closeSession")
        if now - self._last_send >= t / 3.0 and self.phase != PH_CLOSING:
            if not self._ping_outstanding:
                self._ping_outstanding = True
                self.out.append(ser.encode_request(ser.PING_XID, ser.Ping()))
            else:
                self._last_send = now

    def lost_timer_due(self, now: float) -> bool:
        """True when no server has been heard for the whole session timeout."""
        return (
            self.phase == PH_IDLE
            and self.session_id != 0
            and self.state is KeeperState.CONNECTING
            and now - self._last_heard >= self.timeout_s
        )

    def expire_by_timer(self, now: float) -> None:
        """The client-side LOST timer fired: give the session up."""
        log.warning("no server reachable for the session timeout: session considered lost")
        abandoned = (self.session_id, self.passwd)
        self._expired()
        self._abandon = abandoned
        self._last_heard = now

    # -- incoming bytes ------------------------------------------------

    def data_received(self, data: bytes, now: float) -> None:
        frames = self._frames.feed(data)
        if not frames:
            return
        self._last_recv = self._last_heard = now
        for payload in frames:
            if self.phase == PH_HANDSHAKE:
                self._on_connect_response(payload, now)
            elif self.phase == PH_IDLE:
                return
            else:
                self._on_frame(payload)

    def _on_connect_response(self, payload: bytes, now: float) -> None:
        resp = ser.parse_connect_response(payload)
        if self._abandon is not None:
            if resp.time_out > 0:  # it still lives: close it, then make a new one
                self._send(Pending(ser.Close(), None))
                self.phase = PH_CLOSING
            else:
                self._abandon = None
                self.phase = PH_IDLE
                self.finished = True
            return
        if resp.time_out <= 0:
            self._expired()
            self.phase = PH_IDLE
            self.finished = True
            return
        self._resumed = resp.session_id == self.session_id
        if not self._resumed:
            self._ro_session = bool(resp.read_only)
        self.session_id, self.passwd = resp.session_id, resp.passwd
        self.negotiated_timeout_ms = resp.time_out
        if not resp.read_only:
            self.seen_rw = True
        self._ro_connection = bool(resp.read_only)
        self.phase = PH_AUTH
        for scheme, credential in list(self.auth_data):
            request = ser.Auth(0, scheme, credential.encode("utf-8"))
            self.out.append(ser.encode_request(ser.AUTH_XID, request))
            self.auth_waiters.append(None)
        if not self.auth_waiters:
            self._open()

    def _open(self) -> None:
        """Handshake and auth replay done: re-arm watches, flush the queue, announce."""
        self.phase = PH_OPEN
        self.auth_eof_strikes = 0
        self._rearming = 0
        for batch in self.watches.set_watches_batches():
            if batch.needs_v2:
                req: Any = ser.SetWatches2(self.last_zxid, *batch)
            else:
                req = ser.SetWatches(self.last_zxid, batch.data, batch.exist, batch.child)
            self.out.append(ser.encode_request(ser.SET_WATCHES_XID, req))
            self._rearming += 1
        queued, self.queued = self.queued, []
        for pending in queued:
            if isinstance(pending.request, ser.Auth):
                self.events.append((EV_RESULT, pending.handle, True, None))
            else:
                self._send(pending)
        self._transition("connected_ro" if self._ro_connection else "connected")
        if not self._rearming:
            self.events.extend(self._persistent_rearmed())
        # else: announced once the server has answered the last SetWatches: a change made
        # after the notice then surely reaches the watch (a persistent watch gets no
        # catch-up events for what happened while it was away).

    def _persistent_rearmed(self) -> list[tuple[Any, ...]]:
        """A NONE event for each persistent watcher re-armed on a resumed session."""
        if not self._resumed:
            return []
        out: list[tuple[Any, ...]] = []
        kinds = (WatchKind.PERSISTENT, WatchKind.PERSISTENT_RECURSIVE)
        for watcher, _kind, path in self.watches.registrations(*kinds):
            event = WatchedEvent(EventType.NONE, self.state, unchroot(self.chroot, path))
            out.append((EV_WATCH, watcher, event))
        return out

    def _on_frame(self, payload: bytes) -> None:
        if len(payload) < 16:
            raise ProtocolError(f"truncated ReplyHeader: {len(payload)} bytes, need 16")
        xid, zxid, err = _unpack_reply_header(payload)
        r = Reader(payload, 16)
        if xid < 0:  # requests have xids from 1 up; the special ones are negative
            self._on_special(xid, err, r)
            return
        inflight = self.inflight
        if not inflight or inflight[0].xid != xid:
            expected = inflight[0].xid if inflight else None
            raise ProtocolError(
                f"reply xid {xid} does not match the request in flight ({expected})"
            )
        pending = inflight.popleft()
        if zxid > self.last_zxid:
            self.last_zxid = zxid
        if err:
            self._on_error_reply(pending, err)
            return
        try:
            value = pending.request.deserialize(r)
        except ProtocolError:
            self._fail(pending, ConnectionLoss("malformed reply"))
            raise
        watch = pending.watch
        if watch is not None and watch[1] is not None:
            self.watches.add(watch[1], pending.request.path, watch[0])
        if pending.post is not None:
            try:
                value = pending.post(value)
            except Exception as exc:  # a bug in post-processing fails one request only
                log.exception("post-processing a reply failed")
                self._fail(pending, exc)
                return
        request = pending.request
        if type(request) is ser.RemoveWatches:
            self.watches.remove(request.path, request.watcher_type)
        elif type(request) is ser.Close:
            self._close_reply(pending)
            return
        self.events.append((EV_RESULT, pending.handle, value, None))

    def _on_special(self, xid: int, err: int, r: Reader) -> None:
        if xid == ser.WATCH_XID:
            self._on_watch_event(r)
        elif xid == ser.PING_XID:
            self._ping_outstanding = False
        elif xid == ser.AUTH_XID:
            self._on_auth_reply(err)
        elif xid == ser.SET_WATCHES_XID:
            if err:
                log.warning("re-registering watches failed with error %d", err)
            if self._rearming:
                self._rearming -= 1
                if not self._rearming:
                    self.events.extend(self._persistent_rearmed())
        else:
            raise ProtocolError(f"reply xid {xid} does not match any request")

    def _close_reply(self, pending: Pending) -> None:
        if self._abandon is not None:
            self._abandon = None
            self.phase = PH_IDLE
            self.finished = True
            return
        self._closed()

    def _on_error_reply(self, pending: Pending, err: int) -> None:
        cls = EXCEPTIONS[err]
        request = pending.request
        if cls is NoNodeError and type(request) is ser.Exists:
            # exists() on a missing node answers None; its watch stays (EXIST kind)
            watch = pending.watch
            if watch is not None and watch[2] is not None:
                self.watches.add(watch[2], request.path, watch[0])
            self.events.append((EV_RESULT, pending.handle, None, None))
            return
        if type(request) is ser.Close:
            self._close_reply(pending)
            return
        if type(request) is ser.RemoveWatches and cls is NoWatcherError:
            # the server had none, but this client did: removing them is success
            if self.watches.remove(request.path, request.watcher_type):
                self.events.append((EV_RESULT, pending.handle, True, None))
                return
        self._fail(pending, cls())

    def _on_auth_reply(self, err: int) -> None:
        handle = self.auth_waiters.pop(0) if self.auth_waiters else None
        if err:
            self._auth_failed(f"authentication failed (error {err})", handle)
            return
        if handle is not None:
            self.events.append((EV_RESULT, handle, True, None))
        if self.phase == PH_AUTH and not any(h is None for h in self.auth_waiters):
            self._open()

    def _on_watch_event(self, r: Reader) -> None:
        etype, _state, path = ser.read_watcher_event(r)
        event_type = EVENT_TYPE_MAP.get(etype)
        if event_type is None or event_type is EventType.NONE:
            log.warning("ignoring a watch event of unknown type %d", etype)
            return
        watchers = self.watches.fire(etype, path)
        if not watchers:
            return
        event = WatchedEvent(event_type, self.state, unchroot(self.chroot, path))
        for watcher in watchers:
            self.events.append((EV_WATCH, watcher, event))

    # -- endings -------------------------------------------------------

    def _fail(self, pending: Pending, exc: BaseException) -> None:
        if pending.handle is not None:
            self.events.append((EV_RESULT, pending.handle, None, exc))

    def _fail_all(self, exc: BaseException) -> None:
        for pending in self.inflight:
            self._fail(pending, exc)
        for pending in self.queued:
            self._fail(pending, exc)
        self.inflight.clear()
        self.queued.clear()
        for handle in self.auth_waiters:
            if handle is not None:
                self.events.append((EV_RESULT, handle, None, exc))
        self.auth_waiters.clear()

    def _drain_watches(self, state: KeeperState) -> None:
        event = WatchedEvent(EventType.NONE, state, None)
        seen: list[Any] = []
        for watcher, _kind, _path in self.watches.drain():
            if watcher not in seen:  # each watcher is told once
                seen.append(watcher)
                self.events.append((EV_WATCH, watcher, event))

    def _expired(self) -> None:
        """The session is gone: fail everything, drop watches, start afresh."""
        self._fail_all(SessionExpiredError("the session has expired"))
        self.session_id, self.passwd = 0, _ZERO_PASSWD
        self.negotiated_timeout_ms = 0
        self._transition("expired")
        self._drain_watches(KeeperState.EXPIRED_SESSION)

    def _auth_failed(self, message: str, handle: Any = None) -> None:
        log.warning("%s", message)
        exc = AuthFailedError(message)
        if handle is not None:
            self.events.append((EV_RESULT, handle, None, exc))
        self._fail_all(exc)
        self.phase = PH_IDLE
        self.finished = True
        self._transition("auth_failed")
        self._drain_watches(KeeperState.AUTH_FAILED)
