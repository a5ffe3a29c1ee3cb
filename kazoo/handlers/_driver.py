"""The blocking I/O owner shared by the threading, gevent and eventlet handlers.

One :class:`Driver` runs per started client, in a thread (or greenlet) from
``handler.spawn``. The socket and the :class:`~kazoo.protocol.session.Session`
are touched only under the driver's I/O lock, which the driver holds except
while it waits (``select``, connect, name lookup, backoff). Other threads hand
requests over through :meth:`Driver.submit`:

* when the connection is open and the lock is free (the driver is waiting),
  the caller writes the request itself: no thread hand-off before it is on the
  wire, which is what a synchronous call's latency is made of;
* otherwise the request joins a queue and the driver is woken by one byte on a
  socket pair (sent only when it is not already due to look); everything
  queued is written with one ``send`` per loop turn, so a busy driver batches.

Replies are read by the driver (every complete frame in a read is decoded before
the next ``select``), except while a caller *leads*: a caller of the threading or
gevent handler about to wait for its result takes the I/O lock when it is free
and reads the connection itself until its result is settled (see
:meth:`Driver.serve_waiter`). A synchronous call then costs no hand-over at all:
the caller sleeps on the socket, as a plain blocking client would. The driver
stays parked meanwhile, and is woken when anything is left for it. A thread
takes the socket out of the driver's selector and polls it; a greenlet waits in
the driver's selector as its guest (readiness wakes the guest, not the driver).
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
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
from kazoo.protocol.session import PH_OPEN, Pending, Session
from kazoo.protocol.states import Callback, KeeperState

log = logging.getLogger("kazoo.client")

#: Bytes asked for per read while replies stream in: under glibc's mmap threshold, so a read
#: costs no mmap/munmap.
RECV_SIZE = 64 * 1024
#: Bytes asked for per read while traffic is light (the first read, and after a big read
#: that brought little). A buffer this small comes from Python's own allocator: the
#: thread of an idle connection never calls malloc for a read, so glibc never gives it an
#: arena of its own (which costs tens of KiB of resident memory per client).
RECV_SMALL = 448
#: A waiting caller reads the connection itself only when the last this many submissions
#: were all its own: with other threads at work, the driver reads for all of them.
LEAD_AFTER = 4
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
        #: Submissions (appended by any thread; taken whole, under the I/O lock or after
        #: the loop ended). A list, not a deque: an idle client keeps it small.
        self._queue: list[Any] = []
        #: Held by the driver except while it waits; a caller holding it may write.
        self._io_lock = self.handler.lock_object()
        self._wake_r, self._wake_w = self.handler.create_socket_pair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        #: The identity of the running thread (or greenlet: ``threading.get_ident`` is one
        #: for all greenlets of a thread when nothing is monkey-patched).
        self._current: Any = getattr(self.handler, "_current_task", threading.get_ident)
        #: The thread handing events over now (the driver's, or a leading caller's), 0
        #: when none: what it submits meanwhile needs no wake-up.
        self._delivering: Any = 0
        self._ident: Any = 0  # the driver's thread (or greenlet), once it runs
        self._stop_requested = False
        self._selector = self.handler.new_selector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._socket: socket.socket | None = None
        #: Bound on a write that makes no progress (the peer stopped reading).
        self._write_timeout = 1.0
        self._address: tuple[str, int] | None = None
        self._thread: Any = None
        self._done = self.handler.async_result()  # set when the loop has ended
        self._pacing = _policy.Backoff(client._connection_retry)
        self._finished = False
        self._addresses: list[tuple[str, int]] = []
        self._rw_address: tuple[str, int] | None = None
        self._move_to_rw = False
        self._probe_running = False
        #: What broke the connection under a reading caller (who shut it down for the
        #: driver to see).
        self._broken: BaseException | None = None
        #: The thread (or greenlet) that submitted last, and how many submissions in a row
        #: were its (a caller leads only while it is alone: see ``LEAD_AFTER``).
        self._submitter: Any = 0
        self._run_length = 0
        #: The thread (or greenlet) of the caller reading the connection now (0: the
        #: driver reads).
        self._leader: Any = 0
        #: A green selector's wait for a second greenlet while the driver waits in it (see
        #: ``kazoo.handlers.gevent``): a leading greenlet waits there.
        self._guest_select: Any = getattr(self._selector, "guest_select", None)
        #: Whether a caller waiting for a result may read the connection itself: when the
        #: handler allows it, and either the selector takes a guest, or its set lives in
        #: the kernel (epoll, kqueue: what one thread unregisters or registers holds at
        #: once for the driver waiting in it) and ``select.poll`` is the real one (no
        #: monkey-patching made either green).
        self.leads = bool(getattr(self.handler, "_callers_lead", False)) and (
            self._guest_select is not None
            or (
                hasattr(self._selector, "fileno")
                and getattr(getattr(select, "poll", None), "__module__", None) == "select"
            )
        )

    # -- called from any thread ----------------------------------------

    def start(self) -> None:
        self._thread = self.handler.spawn(self._run)

    def submit(self, pending: Any) -> None:
        self._queue.append(pending)
        me = self._current()
        if me == self._submitter:
            self._run_length += 1
        else:
            self._submitter, self._run_length = me, 1
        if self._finished:
            self._fail_leftovers()
            return
        if self._delivering == me:
            return  # from the I/O owner itself, while delivering: it looks at the queue next
        lock = self._io_lock
        if lock.acquire(False):
            try:
                written = self._write_queued()
            finally:
                lock.release()
            if written:
                return
        self._wake()

    def _write_queued(self) -> bool:
        """In a caller's thread, holding the I/O lock: give the queued requests to an open
        session and write them now. False when the driver has to look instead (not
        connected, or something other than a request is queued)."""
        sock = self._socket
        session = self.session
        if sock is None or session.phase != PH_OPEN or session.inflight:
            # Not connected, or replies are due: the driver wakes for those anyway, and it
            # writes everything queued by then in one go.
            return False
        if any(type(item) is not Pending for item in self._queue):
            return False  # a stop, a release...: for the driver
        for item in self._take_queue():
            session.submit(item)
        out = session.take_output(time.monotonic())
        if out:
            try:
                self._write(sock, out)
            except OSError:
                # The stream may be cut mid-frame: end the connection; the driver's next
                # read fails and it reconnects (requests in flight get ConnectionLoss).
                _shut(sock)
        return not session.events

    def serve_waiter(self, result: Any, timeout: float | None) -> float | None:
        """In a caller's thread (or greenlet) about to wait for ``result``: read the
        connection here until ``result`` is settled, if this caller is alone. Returns what
        is left of ``timeout``.

        Alone means: the last :data:`LEAD_AFTER` submissions were this thread's, at most
        one reply is due, and the I/O lock is free. Otherwise the driver reads, for many
        callers in batches (on another core, for threads), while they go on sending.

        The caller leads only while the session is open and no timer of the session is
        due (a ping, a read timeout): it gives up, and leaves the rest to the driver, at
        ``session.next_deadline()``, when the session leaves the open phase, when another
        thread submits, or when ``timeout`` runs out. Everything it reads is handled as
        the driver would (other callers' replies, watch events); a connection that breaks
        under it is shut down, so that the driver's next read sees it and reconnects.
        """
        me = self._current()
        session = self.session
        # A first look without the lock (a hint, looked at again under it): callers that
        # are not alone do not touch the lock the driver is about to take.
        if self._submitter != me or self._run_length < LEAD_AFTER or len(session.inflight) > 1:
            return timeout
        lock = self._io_lock
        if not lock.acquire(False):
            return timeout  # the driver is at work: it reads for us
        try:
            sock = self._socket
            if (
                sock is None
                or session.phase != PH_OPEN
                or len(session.inflight) > 1
                or self._submitter != me
                or self._finished
                or me == self._ident
            ):
                return timeout
            now = time.monotonic()
            limit = None if timeout is None else now + timeout
            self._lead(sock, result, now, limit)
        finally:
            lock.release()
        return None if limit is None else max(limit - time.monotonic(), 0.0)

    def _lead(self, sock: socket.socket, result: Any, now: float, limit: float | None) -> None:
        session = self.session
        wait = self._take_over(sock)
        if wait is None:
            return
        self._leader = self._current()
        contended = False
        try:
            while True:
                if self._queue:
                    self._take_submissions()
                out = session.take_output(now)
                if out:
                    self._write(sock, out)
                if session.events:
                    self._deliver()
                    if self._queue:
                        continue
                if result._ready or contended or session.phase != PH_OPEN:
                    # Other callers at work: their replies are read by the driver, in
                    # batches, as if nobody had led.
                    return
                deadline = session.next_deadline()
                if limit is not None and limit < deadline:
                    deadline = limit
                if deadline <= now:
                    return
                readable, woken = wait(deadline - now)
                now = time.monotonic()
                if woken:
                    contended = True  # what was submitted is written at the top of the loop
                if readable:
                    try:
                        data = sock.recv(RECV_SIZE)
                    except (BlockingIOError, InterruptedError):
                        continue
                    if not data:
                        return  # the driver's own read sees the end too
                    session.data_received(data, now)
        except (OSError, ConnectionDropped) as exc:
            self._broken = exc
            _shut(sock)
        except Exception as exc:  # a bug: the driver's next read ends the connection
            log.exception("a caller reading replies failed")
            self._broken = exc
            _shut(sock)
        finally:
            self._leader = 0
            if self._guest_select is None:
                self._selector.register(self._wake_r, selectors.EVENT_READ)
                self._selector.register(sock, selectors.EVENT_READ)
            # The driver's selector is watching again (a socket with bytes waiting wakes it
            # at once); a wake-up is only for work the driver must pick up now.
            if self._queue or session.events or session.phase != PH_OPEN:
                self._wake()

    def _take_over(self, sock: socket.socket) -> Callable[[float], tuple[bool, bool]] | None:
        """For a leading caller: ``wait(seconds)``, which tells whether the socket is readable
        and whether a wake-up came (another caller submitted). ``None``: the socket is not
        the driver's any more."""
        guest_select = self._guest_select
        if guest_select is not None:
            # A greenlet waits in the driver's selector as its guest: what is ready there
            # wakes the guest, and the driver parked in it sleeps on (only its own timer
            # wakes it: it then finds the I/O lock taken until this caller is done).

            def guest_wait(seconds: float) -> tuple[bool, bool]:
                readable = woken = False
                for key, _ in guest_select(seconds):
                    if key.fileobj is sock:
                        readable = True
                    else:
                        woken = True
                return readable, woken

            return guest_wait
        # A thread: the driver's selector gives up the socket and the wake-up pair, so the
        # driver sleeps on (only its timers can wake it) while this caller reads replies
        # and is the one woken by other callers' submissions.
        selector = self._selector
        try:
            selector.unregister(sock)
        except (KeyError, ValueError):
            return None
        selector.unregister(self._wake_r)
        poller = select.poll()  # the real one (see ``leads``)
        sock_fd = sock.fileno()
        poller.register(sock_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)

        def poll_wait(seconds: float) -> tuple[bool, bool]:
            readable = woken = False
            for fd, _ in poller.poll(math.ceil(seconds * 1000.0)):
                if fd == sock_fd:
                    readable = True
                else:
                    woken = True
            return readable, woken

        return poll_wait

    def _wake(self) -> None:
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
        return not self._done.ready()

    # -- the I/O owner --------------------------------------------------

    def _run(self) -> None:
        session = self.session
        self._ident = self._current()
        self._io_lock.acquire()
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
            self._io_lock.release()
            self._done.set(None)

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
            with self._unlocked():
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
                with self._unlocked():
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
            with self._unlocked():
                ready = self._selector.select(min(left, 0.5))
            for key, _ in ready:
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
        lock = self._io_lock
        recv_size = RECV_SMALL
        got_through = False
        probes = _policy.ProbeSchedule(now)
        self._move_to_rw = False
        try:
            # Non-blocking: reads follow select, writes go out at once (no poll first).
            sock.setblocking(False)
            self._write_timeout = max(session.timeout_s * 2.0 / 3.0, 1.0)
            selector.register(sock, selectors.EVENT_READ)
            self._socket, self._address = sock, address
            self._write(sock, session.begin_connect(now, handshake_timeout))
            while True:
                if self._queue:
                    self._take_submissions()
                out = session.take_output(now)
                if out:
                    self._write(sock, out)
                if session.handshake_done:
                    got_through = True
                if session.events:
                    self._deliver()
                    if self._queue:  # submitted while delivering (an inline watcher's read)
                        continue
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
                lock.release()
                try:
                    ready = selector.select(max(deadline - now, 0.0))
                finally:
                    lock.acquire()
                now = time.monotonic()
                taken = bool(self._queue)
                if taken:
                    # Submitted while the driver waited: the session gets these before the
                    # replies read now (a request queued before an expiry answer is failed
                    # by it, as the caller expects, not sent on the next session). This
                    # also reads the wake-up byte, so the wake-up needs no second look.
                    self._take_submissions()
                for key, _ in ready:
                    if key.fileobj is sock:
                        try:
                            data = sock.recv(recv_size)
                        except (BlockingIOError, InterruptedError):
                            continue
                        if not data:
                            if self._broken is not None:  # under a reading caller
                                raise ConnectionDropped(str(self._broken))
                            raise ConnectionDropped("the server closed the connection")
                        if len(data) == recv_size:
                            recv_size = RECV_SIZE  # more is waiting: read big
                        elif len(data) < RECV_SMALL:
                            recv_size = RECV_SMALL
                        session.data_received(data, now)
                    elif not taken:
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
            self._broken = None
            sock.close()
            session.connection_lost(time.monotonic())
            self._deliver()
        return got_through

    def _write(self, sock: socket.socket, data: bytes) -> None:
        """Write all of ``data`` on the non-blocking socket; :class:`TimeoutError` when the
        peer takes none of it for ``_write_timeout`` seconds."""
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            _, writable, _ = self.handler.select([], [sock], [], self._write_timeout)
            if not writable:
                raise TimeoutError("the server stopped reading requests")

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        """Let callers write while the driver waits on something else."""
        self._io_lock.release()
        try:
            yield
        finally:
            self._io_lock.acquire()

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
            # One read: a wake-up is one byte, sent once per look (``_wake_pending``). A byte
            # left over only makes the next select return at once.
            self._wake_r.recv(512)
        except OSError:  # nothing there (BlockingIOError), or the pair is closing
            pass
        submit = self.session.submit
        for item in self._take_queue():
            if item is _RW_FOUND:
                self._move_to_rw = True
            elif item is _STOP:
                if self.session.state is not KeeperState.CLOSED:
                    self.session.close(None)
            elif type(item) is Release:
                self._release(item)
            else:
                submit(item)

    def _take_queue(self) -> list[Any]:
        """Everything submitted so far, in order; what is appended meanwhile stays queued.
        Only under the I/O lock (one taker at a time)."""
        queue = self._queue
        items = queue[:]
        del queue[: len(items)]
        return items

    def _release(self, item: Release) -> None:
        """Drop a watcher; remove the server's watch when it was the last of its type."""
        session = self.session
        for code in _policy.release_watcher(session, item.watcher, item.path, item.kinds):
            session.submit(Pending(ser.RemoveWatches(item.path, code), None, None, None))

    def _deliver(self) -> None:
        if self.session.events:
            on_state = self.client._on_keeper_state
            self._delivering = self._current()  # its submissions need no wake-up
            try:
                _policy.deliver(self.session, _settle, self._dispatch_watch, on_state)
            finally:
                self._delivering = 0

    def _dispatch_watch(self, watcher: Any, event: Any) -> None:
        if getattr(watcher, "_kazoo_inline", False) is True:  # not any truthy (a Mock's)
            # A recipe's own watcher that only submits a read (DataWatch, ChildrenWatch):
            # run here, so the read goes out without a hand-off to the callback worker.
            try:
                watcher(event)
            except Exception:  # never into the I/O loop
                log.exception("an inline watcher failed")
            return
        self.handler.dispatch_callback(Callback("watch", watcher, (event,)))

    def _fail_leftovers(self) -> None:
        """Fail what was submitted after the loop ended (from any thread: several may do
        this at once, so items are taken one by one, each by exactly one of them)."""
        queue = self._queue
        while True:
            try:
                item = queue.pop(0)
            except IndexError:
                return
            if isinstance(item, Pending) and item.handle is not None:
                if self.session.state is KeeperState.AUTH_FAILED:
                    error: Exception = AuthFailedError("authentication failed")
                else:
                    error = ConnectionClosedError("Connection has been closed")
                item.handle.set_exception(error)

    def _close_sockets(self) -> None:
        self._finished = True
        self._fail_leftovers()
        try:
            self._selector.close()
        except OSError:
            pass
        self._wake_r.close()
        self._wake_w.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _settle(handle: Any, value: Any, exception: BaseException | None) -> None:
    if exception is None:
        handle.set(value)
    else:
        handle.set_exception(exception)
