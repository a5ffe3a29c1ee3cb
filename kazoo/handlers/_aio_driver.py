"""The asyncio I/O owner: one task on the running loop serves one client's session.

:class:`AioDriver` drives the same sans-I/O :class:`~kazoo.protocol.session.Session` as the
blocking driver, with the same policy (:mod:`kazoo.handlers._policy`), but natively: the
connection is an :class:`asyncio.BufferedProtocol`, bytes are decoded as they arrive, the
session's timers are one ``loop.call_at`` handle, and the connect loop is a task whose
every wait can be cut short by :meth:`AioDriver.request_stop`. No thread or executor
carries a request or a reply (names are resolved with ``loop.getaddrinfo``, IP literals
without it).

Everything here runs on the loop's thread, so callers submit straight into the session.
A request on an idle connection is written at once; while replies are awaited, what is
queued in one loop iteration goes out in few writes (see :meth:`AioDriver.submit`).
Replies are read into one reused buffer per thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from kazoo import _fourletter
from kazoo.exceptions import ConnectionDropped, KazooException
from kazoo.handlers import _policy
from kazoo.protocol.session import Pending, Session
from kazoo.protocol.states import KeeperState

log = logging.getLogger("kazoo.client")

_FINAL = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)
#: Bound on waiting for a closed transport's ``connection_lost``.
_CLOSE_WAIT = 1.0
#: Size of the receive buffer (asyncio's own default for one read).
_READ_SIZE = 256 * 1024
#: Requests queued in one loop iteration are written in runs of at most this many.
_EARLY_WRITE = 32


class _ReadBuffer(threading.local):
    """The buffer every connection of this thread's loop receives into.

    A transport calls ``get_buffer`` and, after one read into it, ``buffer_updated``
    right away, where the bytes are copied out: so one buffer per thread serves all its
    connections. (A plain Protocol gets a fresh 256 KiB bytes object per read: with
    glibc an mmap, an mremap and a munmap, plus a page fault, for every reply.)
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_SIZE))


_read_buffer = _ReadBuffer()


class _Link(asyncio.BufferedProtocol):
    """One TCP connection; hands everything to the driver."""

    def __init__(self, driver: AioDriver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = driver.loop.create_future()
        self.paused_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer.view

    def buffer_updated(self, nbytes: int) -> None:
        self.driver._on_data(self, _read_buffer.view[:nbytes].tobytes())

    def eof_received(self) -> bool:
        self.driver._end(self, ConnectionDropped("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.driver._end(self, exc or ConnectionDropped("the connection was closed"))

    def pause_writing(self) -> None:
        self.paused_since = self.driver.loop.time()

    def resume_writing(self) -> None:
        self.paused_since = None


class AioDriver:
    """Connects, serves and reconnects one client's session on the running loop."""

    def __init__(self, client: Any, session: Session) -> None:
        self.client = client
        self.session = session
        self.loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] = self.loop.create_future()
        self._stop_requested = False
        self._wake: asyncio.Future[None] | None = None
        self._link: _Link | None = None
        self._address: tuple[str, int] | None = None
        self._ended: asyncio.Future[BaseException | None] | None = None
        self._got_through = False
        self._timer: asyncio.TimerHandle | None = None
        self._flush: asyncio.Handle | None = None
        self._probe: asyncio.Task[None] | None = None
        self._pacing = _policy.Backoff(client._connection_retry)
        self._addresses: list[tuple[str, int]] = []
        self._rw_address: tuple[str, int] | None = None

    # -- called by the client (on the loop) ---------------------------------

    def start(self) -> None:
        self._task = self.loop.create_task(self._run())

    @property
    def alive(self) -> bool:
        return not self._done.done()

    @property
    def done(self) -> asyncio.Future[None]:
        """Resolved when the driver has finished (the session is closed)."""
        return self._done

    @property
    def _socket(self) -> Any:
        """The live connection's socket (for fault injection), or ``None``."""
        link = self._link
        if link is None or link.transport is None or link.transport.is_closing():
            return None
        return link.transport.get_extra_info("socket")

    def submit(self, pending: Pending) -> None:
        """Queue a request. On an idle connection (nothing in flight) it is written at
        once: a one-at-a-time caller saves a loop iteration per request. Otherwise what
        is queued in one loop iteration goes out in one write at the start of the next,
        or in runs of :data:`_EARLY_WRITE` requests, so that the server starts on them
        while the rest are being made."""
        session = self.session
        idle = not session.inflight
        session.submit(pending)
        if idle or len(session.out) >= _EARLY_WRITE:
            self._write()
        elif self._flush is None:
            self._flush = self.loop.call_soon(self._flush_now)

    def request_stop(self) -> None:
        """End the session: closeSession when connected, else at once."""
        self._stop_requested = True
        if self.session.state is not KeeperState.CLOSED:
            self.session.close(None)
        self._pump()
        self._wake_up()

    async def abort(self) -> None:
        """End everything now, without waiting for the server (bounded)."""
        self._stop_requested = True
        self.session.abort()
        if self._link is not None:
            self._end(self._link, ConnectionDropped("the client was stopped"))
        self._deliver()
        self._wake_up()
        if not await self.wait(2 * _CLOSE_WAIT) and self._task is not None:
            self._task.cancel()
            await self.wait(2 * _CLOSE_WAIT)

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the driver to finish; True if it has."""
        if not self._done.done():
            await asyncio.wait({self._done}, timeout=timeout)
        return self._done.done()

    # -- the connect loop ---------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        try:
            session.start(self.loop.time())
            self._deliver()
            while session.state not in _FINAL:
                if self._stop_requested:
                    session.close(None)
                    break
                if not await self._connect_pass():
                    await self._backoff()
        except asyncio.CancelledError:  # the loop is shutting down under us
            session.abort()
            raise
        except Exception:  # never leave callers hanging on a dead loop
            log.exception("the connection loop failed; stopping the client")
            session.abort()
        finally:
            self._deliver()
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None
            if not self._done.done():
                self._done.set_result(None)

    async def _connect_pass(self) -> bool:
        """Try every address once; True if one connection got through the handshake."""
        addresses = await self._resolve()
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
            link = await self._open(address, timeout)
            if link is None:
                continue
            if await self._serve(link, address, handshake_timeout):
                self._pacing.reset()
                return True
        return False

    async def _resolve(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for host, port in self.client.hosts:
            numeric = _policy.numeric_address(host, port)
            if numeric is not None:
                if numeric not in out:
                    out.append(numeric)
                continue
            lookup = self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            task = await self._race(lookup, self.session.timeout_s)
            if task.cancelled():
                if self._stop_requested:
                    return []
                log.warning("cannot resolve %s: timed out", host)
            elif task.exception() is not None:
                log.warning("cannot resolve %s: %s", host, task.exception())
            else:
                _policy.add_addresses(out, task.result())
        return out

    async def _open(self, address: tuple[str, int], timeout: float) -> _Link | None:
        def factory() -> _Link:
            return _Link(self)

        connect = self.loop.create_connection(factory, address[0], address[1])
        task = await self._race(connect, timeout)
        if task.cancelled():
            if not self._stop_requested:
                log.info("cannot connect to %s:%s: timed out", address[0], address[1])
            return None
        exc = task.exception()
        if exc is not None:
            log.info("cannot connect to %s:%s: %s", address[0], address[1], exc)
            return None
        link = task.result()[1]
        if self._stop_requested or self.session.state in _FINAL:
            await self._close_link(link)
            return None
        return link

    async def _backoff(self) -> None:
        """Wait between passes (cut short by a stop); give up when the policy says so."""
        sleep = self._pacing.next_sleep()
        if sleep is None:
            log.warning("connection retries exhausted; stopping the client")
            self.session.close(None)
            return
        deadline = self.loop.time() + sleep
        while not self._stop_requested:
            self._check_lost_timer()
            now = self.loop.time()
            left = deadline - now
            if left <= 0:
                return
            lost_at = self.session.next_deadline() if self.session.session_id else deadline
            if now < lost_at < deadline:
                left = lost_at - now
            await asyncio.wait({self._wake_future()}, timeout=left)

    def _check_lost_timer(self) -> None:
        now = self.loop.time()
        if self.session.lost_timer_due(now):
            self.session.expire_by_timer(now)
            self._deliver()

    async def _race(self, coro: Coroutine[Any, Any, Any], timeout: float) -> asyncio.Task[Any]:
        """Run ``coro`` until it ends, ``timeout`` passes or a stop is requested; the task
        comes back done (cancelled in the last two cases)."""
        task = self.loop.create_task(coro)
        await asyncio.wait(
            {task, self._wake_future()}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        return task

    def _wake_future(self) -> asyncio.Future[None]:
        if self._wake is None:
            self._wake = self.loop.create_future()
        return self._wake

    def _wake_up(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    # -- one connection -------------------------------------------------------

    async def _serve(self, link: _Link, address: tuple[str, int], handshake: float) -> bool:
        """Run one connection until it ends; True if the handshake succeeded."""
        session = self.session
        self._link, self._address = link, address
        self._got_through = False
        ended: asyncio.Future[BaseException | None] = self.loop.create_future()
        self._ended = ended
        try:
            assert link.transport is not None
            link.transport.write(session.begin_connect(self.loop.time(), handshake))
            self._pump()
            reason = await ended
            if reason is not None:
                level = logging.WARNING if self._got_through else logging.INFO
                log.log(level, "connection to %s:%s dropped: %s", *address, reason)
        finally:
            self._link = self._ended = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self._stop_probe()
            await self._close_link(link)
            session.connection_lost(self.loop.time())
            self._deliver()
        return self._got_through

    def _end(self, link: _Link, reason: BaseException | None) -> None:
        """The connection of ``link`` is over (``reason`` None: the session finished it)."""
        if link is not self._link:
            return
        ended = self._ended
        if ended is not None and not ended.done():
            ended.set_result(reason)
        if link.transport is not None and not link.transport.is_closing():
            link.transport.abort()

    async def _close_link(self, link: _Link) -> None:
        if link.transport is not None and not link.transport.is_closing():
            link.transport.abort()
        if not link.closed.done():
            await asyncio.wait({link.closed}, timeout=_CLOSE_WAIT)

    def _on_data(self, link: _Link, data: bytes) -> None:
        if link is not self._link:
            return
        try:
            self.session.data_received(data, self.loop.time())
        except ConnectionDropped as exc:  # hostile or broken input: drop this connection
            self._end(link, exc)
            return
        except Exception as exc:  # a bug: give up like the blocking driver does
            log.exception("decoding a reply failed; stopping the client")
            self._end(link, exc)
            self.session.abort()
            self._deliver()
            return
        self._pump()

    def _flush_now(self) -> None:
        self._flush = None
        self._write()

    def _write(self) -> None:
        """Write the requests the session queued (and settle those it refused). Unlike
        :meth:`_pump`, no state or timer to look at: a request only delays the next ping."""
        session = self.session
        link = self._link
        if session.out and link is not None:
            transport = link.transport
            if transport is not None and not transport.is_closing():
                transport.write(session.take_output(self.loop.time()))
        if session.events:
            self._deliver()

    def _pump(self) -> None:
        """Write what the session queued, deliver its events, re-arm its timer."""
        session = self.session
        link = self._link
        if link is not None and link.transport is not None and not link.transport.is_closing():
            out = session.take_output(self.loop.time())
            if out:
                link.transport.write(out)
            if not self._got_through and session.handshake_done:
                self._got_through = True
        if session.events:
            self._deliver()
        if link is None or link is not self._link:
            return
        if session.finished:
            self._end(link, None)
            return
        self._arm_timer()
        if session.state is KeeperState.CONNECTED_RO and self._probe is None:
            self._probe = self.loop.create_task(self._look_for_rw(self._address))

    def _arm_timer(self) -> None:
        deadline = self.session.next_deadline()
        link = self._link
        if link is not None and link.paused_since is not None:
            deadline = min(deadline, link.paused_since + self.session.timeout_s * 2.0 / 3.0)
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        link = self._link
        if link is None:
            return
        now = self.loop.time()
        try:
            if link.paused_since is not None and (
                now - link.paused_since >= self.session.timeout_s * 2.0 / 3.0
            ):
                raise ConnectionDropped("the server does not read what is sent to it")
            self.session.check_timers(now)
        except ConnectionDropped as exc:
            self._end(link, exc)
            return
        self._pump()

    def _deliver(self) -> None:
        if self.session.events:
            client = self.client
            _policy.deliver(self.session, _settle, client._dispatch_watch, client._on_keeper_state)

    # -- read-only mode ----------------------------------------------------------

    async def _look_for_rw(self, current: tuple[str, int] | None) -> None:
        """While connected read-only, ask the other servers ``isro`` (backing off); drop
        the connection once one says ``rw`` so that the next pass starts with it."""
        others = _policy.probe_targets(self._addresses, current)
        if not others:
            return
        schedule = _policy.ProbeSchedule(self.loop.time())
        while True:
            await asyncio.sleep(max(schedule.next_at - self.loop.time(), 0.0))
            for address in others:
                try:
                    answer = await _fourletter.command_async(address, b"isro", 1.0)
                except (OSError, KazooException, asyncio.TimeoutError):
                    continue
                if _policy.is_read_write(answer):
                    self._rw_address = address
                    if self._link is not None:
                        self._end(self._link, ConnectionDropped("a read-write server is available"))
                    return
            schedule.advance(self.loop.time())

    async def _stop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            await asyncio.wait({probe})


def _settle(future: asyncio.Future[Any], value: Any, exception: BaseException | None) -> None:
    if future.done():  # its caller was cancelled: the reply is dropped
        return
    if exception is None:
        future.set_result(value)
    else:
        future.set_exception(exception)
