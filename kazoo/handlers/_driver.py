"""The blocking I/O owner shared by the threading, gevent and eventlet handlers.

One :class:`Driver` runs per started client, in a thread (or greenlet) from
``handler.spawn``. It alone touches the socket and the
:class:`~kazoo.protocol.session.Session`. Other threads hand requests over
through :meth:`Driver.submit` (a deque plus a one-byte wake-up on a socket
pair, sent only when the driver is not already due to look); everything
queued is written with one ``send`` per loop turn, and every complete frame
in a read is decoded before the next ``select``.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections import deque
from typing import Any

from kazoo import _fourletter
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    ConnectionDropped,
    KazooException,
)
from kazoo.handlers import _policy
from kazoo.protocol import serialization as ser
from kazoo.protocol.session import Pending, Session
from kazoo.protocol.states import Callback, KeeperState

log = logging.getLogger("kazoo.client")

RECV_SIZE = 256 * 1024
_FINAL = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)
_STOP = object()
_RW_FOUND = object()


class Release:
    """A submission: forget ``watcher`` on the server ``path`` (see ``remove_watch``)."""

    __slots__ = ("watcher", "path", "kinds")

    def __init__(self, watcher: Any, path: str, kinds: tuple[Any, ...]) -> None:
        self.watcher, self.path, self.kinds = watcher, path, kinds


class Driver:
    """Connects, serves and reconnects one client's session."""

    def __init__(self, client: Any, session: Session) -> None:
        self.client = client
        self.session = session
        self.handler = client.handler
        self._queue: deque[Any] = deque()
        self._wake_r, self._wake_w = self.handler.create_socket_pair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        self._stop_requested = False
        self._selector = self.handler.new_selector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._socket: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._thread: Any = None
        self._done = self.handler.event_object()
        self._pacing = _policy.Backoff(client._connection_retry)
        self._finished = False
        self._addresses: list[tuple[str, int]] = []
        self._rw_address: tuple[str, int] | None = None
        self._move_to_rw = False
        self._probe_running = False

    # -- called from any thread ----------------------------------------

    def start(self) -> None:
        self._thread = self.handler.spawn(self._run)

    def submit(self, pending: Any) -> None:
        self._queue.append(pending)
        if self._finished:
            self._fail_leftovers()
            return
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._wake_w.send(b"\x00")
            except OSError:  # the pair is full or closed: the driver will look anyway
                pass

    def request_stop(self) -> None:
        self._stop_requested = True
        self.submit(_STOP)

    def join(self, timeout: float) -> bool:
        return bool(self._done.wait(timeout))

    @property
    def alive(self) -> bool:
        return not self._done.is_set()

    # -- the I/O owner --------------------------------------------------

    def _run(self) -> None:
        session = self.session
        try:
            session.start(time.monotonic())
            self._deliver()
            while session.state not in _FINAL:
                if self._stop_requested:
                    session.close(None)
                    break
                if not self._connect_pass():
                    self._backoff()
        except Exception:  # never leave callers hanging on a dead loop
            log.exception("the connection loop failed; stopping the client")
            session.abort()
        finally:
            self._deliver()
            self._close_sockets()
            self._done.set()

    def _connect_pass(self) -> bool:
        """Try every address once; True if one connection got through the handshake."""
        addresses = self._resolve()
        if not addresses:
            return False
        rw, self._rw_address = self._rw_address, None  # found by a probe: tried first
        addresses = _policy.order_addresses(addresses, self.client.randomize_hosts, rw)
        self._addresses = addresses
        timeout, handshake_timeout = _policy.connect_timeouts(
            self.session.timeout_s, len(addresses)
        )
        for address in addresses:
            if self._stop_requested or self.session.state in _FINAL:
                return True
            self._check_lost_timer()
            sock = self._open(address, timeout)
            if sock is None:
                continue
            if self._serve(sock, address, handshake_timeout):
                self._pacing.reset()
                return True
        return False

    def _resolve(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        resolve = self.handler.getaddrinfo  # not socket.getaddrinfo: it would block a hub
        for host, port in self.client.hosts:
            try:
                infos = resolve(host, port, 0, socket.SOCK_STREAM)
            except OSError as exc:
                log.warning("cannot resolve %s: %s", host, exc)
                continue
            _policy.add_addresses(out, infos)
        return out

    def _open(self, address: tuple[str, int], timeout: float) -> socket.socket | None:
        try:
            sock = self.handler.create_connection(address, timeout=timeout)
        except OSError as exc:
            log.info("cannot connect to %s:%s: %s", address[0], address[1], exc)
            return None
        return sock  # type: ignore[no-any-return, unused-ignore]

    def _backoff(self) -> None:
        """Sleep between passes (interruptibly); give up when the retry policy says so."""
        sleep = self._pacing.next_sleep()
        if sleep is None:
            log.warning("connection retries exhausted; stopping the client")
            self.session.close(None)
            return
        deadline = time.monotonic() + sleep
        while not self._stop_requested:
            self._check_lost_timer()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ in self._selector.select(min(left, 0.5)):
                if key.fileobj is self._wake_r:
                    self._take_submissions()

    def _check_lost_timer(self) -> None:
        now = time.monotonic()
        if self.session.lost_timer_due(now):
            self.session.expire_by_timer(now)
            self._deliver()

    def _serve(
        self, sock: socket.socket, address: tuple[str, int], handshake_timeout: float
    ) -> bool:
        """Run one connection until it ends; True if the handshake succeeded."""
        session = self.session
        now = time.monotonic()
        selector = self._selector
        got_through = False
        probes = _policy.ProbeSchedule(now)
        self._move_to_rw = False
        try:
            sock.settimeout(max(session.timeout_s * 2.0 / 3.0, 1.0))
            selector.register(sock, selectors.EVENT_READ)
            self._socket, self._address = sock, address
            sock.sendall(session.begin_connect(now, handshake_timeout))
            while True:
                if self._queue:
                    self._take_submissions()
                out = session.take_output(now)
                if out:
                    sock.sendall(out)
                if session.handshake_done:
                    got_through = True
                if session.events:
                    self._deliver()
                if session.finished:
                    return got_through
                deadline = session.next_deadline()
                if session.state is KeeperState.CONNECTED_RO:
                    if self._move_to_rw:
                        raise ConnectionDropped("a read-write server is available")
                    if probes.due(now):
                        self._start_probe(address)
                        probes.advance(now)
                    deadline = min(deadline, probes.next_at)
                ready = selector.select(max(deadline - now, 0.0))
                now = time.monotonic()
                for key, _ in ready:
                    if key.fileobj is sock:
                        data = sock.recv(RECV_SIZE)
                        if not data:
                            raise ConnectionDropped("the server closed the connection")
                        session.data_received(data, now)
                    else:
                        self._take_submissions()
                session.check_timers(now)
        except (OSError, ConnectionDropped) as exc:
            level = logging.WARNING if got_through else logging.INFO
            log.log(level, "connection to %s:%s dropped: %s", address[0], address[1], exc)
        finally:
            try:
                selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            self._socket = None
            sock.close()
            session.connection_lost(time.monotonic())
            self._deliver()
        return got_through

    def _start_probe(self, current: tuple[str, int]) -> None:
        """Look for a read-write server (``isro``) without blocking the I/O loop."""
        if self._probe_running:
            return
        others = _policy.probe_targets(self._addresses, current)
        if not others:
            return
        self._probe_running = True
        self.handler.spawn(self._probe, others)

    def _probe(self, addresses: list[tuple[str, int]]) -> None:
        try:
            for address in addresses:
                try:
                    answer = _fourletter.command(
                        address, b"isro", 1.0, self.handler.create_connection
                    )
                except (OSError, KazooException):
                    continue
                if _policy.is_read_write(answer):
                    self._rw_address = address
                    self.submit(_RW_FOUND)
                    return
        finally:
            self._probe_running = False

    def _take_submissions(self) -> None:
        self._wake_pending = False
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass
        queue = self._queue
        submit = self.session.submit
        while queue:
            item = queue.popleft()
            if item is _RW_FOUND:
                self._move_to_rw = True
            elif item is _STOP:
                if self.session.state is not KeeperState.CLOSED:
                    self.session.close(None)
            elif type(item) is Release:
                self._release(item)
            else:
                submit(item)

    def _release(self, item: Release) -> None:
        """Drop a watcher; remove the server's watch when it was the last of its type."""
        session = self.session
        for code in _policy.release_watcher(session, item.watcher, item.path, item.kinds):
            session.submit(Pending(ser.RemoveWatches(item.path, code), None, None, None))

    def _deliver(self) -> None:
        if self.session.events:
            on_state = self.client._on_keeper_state
            _policy.deliver(self.session, _settle, self._dispatch_watch, on_state)

    def _dispatch_watch(self, watcher: Any, event: Any) -> None:
        self.handler.dispatch_callback(Callback("watch", watcher, (event,)))

    def _fail_leftovers(self) -> None:
        """Fail what was submitted after the loop ended (from any thread)."""
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                return
            if isinstance(item, Pending) and item.handle is not None:
                if self.session.state is KeeperState.AUTH_FAILED:
                    item.handle.set_exception(AuthFailedError("authentication failed"))
                else:
                    item.handle.set_exception(ConnectionClosedError("Connection has been closed"))

    def _close_sockets(self) -> None:
        self._finished = True
        self._fail_leftovers()
        try:
            self._selector.close()
        except OSError:
            pass
        self._wake_r.close()
        self._wake_w.close()


def _settle(handle: Any, value: Any, exception: BaseException | None) -> None:
    if exception is None:
        handle.set(value)
    else:
        handle.set_exception(exception)
