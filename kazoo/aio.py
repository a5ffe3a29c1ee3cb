"""``AsyncKazooClient``: the ZooKeeper client for asyncio (API.md §3.5).

The same operations as :class:`kazoo.client.KazooClient`, as coroutines, built by the same
:mod:`kazoo._ops` and served by a native asyncio driver
(:class:`kazoo.handlers._aio_driver.AioDriver`) on the loop on which :meth:`start` is
awaited. Use a client from that loop only.

    async with AsyncKazooClient("127.0.0.1:2181") as zk:
        await zk.ensure_path("/app")
        data, stat = await zk.get("/app")
        async for data, stat, event in zk.watch_data("/app/config"):
            ...
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any, Callable

from kazoo import _fourletter
from kazoo._aio_support import AsyncTransactionRequest, CallbackRunner, call_maybe_async
from kazoo._aio_watch import (
    ChildrenWatchIterator,
    DataWatchIterator,
    EventsIterator,
    Sink,
)
from kazoo._clientbase import ClientBase, RecipeFactory
from kazoo._ops import Op, OpGenerator
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionClosedError,
    KazooException,
    MarshallingError,
    WriterNotClosedException,
)
from kazoo.handlers import _policy
from kazoo.handlers._aio_driver import AioDriver
from kazoo.protocol import serialization as ser
from kazoo.protocol.session import Pending
from kazoo.protocol.states import (
    AddWatchMode,
    KazooState,
    KeeperState,
    WatchedEvent,
    WatcherType,
    ZnodeStat,
)
from kazoo.protocol.watches import WatchKind
from kazoo.recipe.barrier import AsyncBarrier, AsyncDoubleBarrier
from kazoo.recipe.counter import AsyncCounter
from kazoo.recipe.election import AsyncElection
from kazoo.recipe.lock import (
    AsyncLock,
    AsyncReadLock,
    AsyncSemaphore,
    AsyncWriteLock,
)
from kazoo.recipe.party import AsyncParty, AsyncShallowParty
from kazoo.recipe.queue import AsyncLockingQueue, AsyncQueue
from kazoo.retry import KazooRetry
from kazoo.security import ACL, ClientInfo

__all__ = [
    "AsyncKazooClient",
    "AsyncTransactionRequest",
    "ChildrenWatchIterator",
    "DataWatchIterator",
    "EventsIterator",
]

#: A watch callback: a plain function or a coroutine function taking a WatchedEvent.
Watcher = Callable[[WatchedEvent], Any]
#: Bound on running the callbacks still queued when the client is closed.
_DRAIN_TIMEOUT = 10.0


class AsyncKazooClient(ClientBase):
    """A ZooKeeper client whose operations are coroutines (see API.md §3.5)."""

    def __init__(
        self,
        hosts: str | Sequence[str] = "127.0.0.1:2181",
        timeout: float = 10.0,
        client_id: tuple[int, bytes] | None = None,
        default_acl: Sequence[ACL] | None = None,
        auth_data: Sequence[tuple[str, str]] | None = None,
        sasl_options: dict[str, Any] | None = None,
        read_only: bool | None = None,
        randomize_hosts: bool = True,
        connection_retry: KazooRetry | dict[str, Any] | None = None,
        command_retry: KazooRetry | dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        keyfile: str | None = None,
        keyfile_password: str | None = None,
        certfile: str | None = None,
        ca: str | None = None,
        use_ssl: bool = False,
        verify_certs: bool = True,
        check_hostname: bool = True,
        max_frame_size: int = 1114111,
    ) -> None:
        super().__init__(
            hosts,
            timeout,
            client_id,
            default_acl,
            auth_data,
            sasl_options,
            read_only,
            randomize_hosts,
            connection_retry,
            command_retry,
            logger,
            use_ssl,
            (keyfile, keyfile_password, certfile, ca, verify_certs, check_hostname),
            max_frame_size,
            {},
        )
        self._live = False
        self._live_waiters: list[asyncio.Future[None]] = []
        self._connection: AioDriver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._callbacks = CallbackRunner(self.logger)

    # Recipe factories (API §3.5): ``zk.Lock(path)`` is ``AsyncLock(zk, path)``.
    Barrier = RecipeFactory(AsyncBarrier)
    Counter = RecipeFactory(AsyncCounter)
    DoubleBarrier = RecipeFactory(AsyncDoubleBarrier)
    Election = RecipeFactory(AsyncElection)
    Lock = RecipeFactory(AsyncLock)
    ReadLock = RecipeFactory(AsyncReadLock)
    WriteLock = RecipeFactory(AsyncWriteLock)
    Semaphore = RecipeFactory(AsyncSemaphore)
    Party = RecipeFactory(AsyncParty)
    ShallowParty = RecipeFactory(AsyncShallowParty)
    Queue = RecipeFactory(AsyncQueue)
    LockingQueue = RecipeFactory(AsyncLockingQueue)

    # -- flavour hooks of ClientBase ------------------------------------------

    def _retry_sleep_func(self) -> Callable[[float], Any]:
        return time.sleep  # only the numbers are used: the client sleeps with asyncio.sleep

    @property
    def connected(self) -> bool:
        """True while a session is live."""
        return self._live

    def _set_live(self, live: bool) -> None:
        self._live = live
        if live:
            self._wake_live_waiters()

    def _wake_live_waiters(self) -> None:
        waiters, self._live_waiters = self._live_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _announce(self, state: KazooState) -> None:
        self._callbacks.put(self._call_listeners, state)

    async def _call_listeners(self, state: KazooState) -> None:
        for listener in list(self.state_listeners):
            try:
                self._listener_returned(listener, await call_maybe_async(listener, state))
            except Exception:
                self.logger.exception("a state listener raised")

    def _dispatch_watch(self, watcher: Any, event: WatchedEvent) -> None:
        """Called by the driver for every watch event: iterators at once, callbacks queued."""
        if isinstance(watcher, Sink):
            watcher(event)
        else:
            self._callbacks.put(watcher, event)

    # -- lifecycle ------------------------------------------------------------

    def _lifecycle(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        driver = self._connection
        if driver is not None and driver.loop is not loop:
            if driver.alive and not driver.loop.is_closed():
                raise RuntimeError("this AsyncKazooClient runs on another event loop")
            self._connection = None  # its loop ended without stop(): start afresh here
            self._on_keeper_state(KeeperState.CLOSED)
        if self._lock is None or self._loop is not loop:
            self._lock = asyncio.Lock()
            self._loop = loop
        return self._lock

    async def start(self, timeout: float = 15) -> None:
        """Connect, waiting up to ``timeout`` seconds for CONNECTED.

        :raises asyncio.TimeoutError: not connected in time (the client is stopped).
        :raises AuthFailedError: the credentials in ``auth_data`` were refused.
        """
        async with self._lifecycle():
            await self._start(timeout)
        if self.chroot and not await self._chroot_exists():
            warnings.warn(f"the chroot {self.chroot!r} does not exist", UserWarning, stacklevel=2)

    async def _start(self, timeout: float) -> None:
        driver = self._connection
        if driver is None or not driver.alive:
            self._connection = driver = AioDriver(self, self._new_session())
            driver.start()
        loop = driver.loop
        deadline = loop.time() + timeout
        while not self.connected and driver.alive:
            left = deadline - loop.time()
            if left <= 0:
                break
            waiter = loop.create_future()
            self._live_waiters.append(waiter)
            await asyncio.wait(
                {waiter, driver.done}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            if not waiter.done():
                waiter.cancel()
        if not self.connected:
            auth_failed = self._client_state is KeeperState.AUTH_FAILED
            await self._stop()
            if auth_failed:
                raise AuthFailedError("authentication failed")
            raise asyncio.TimeoutError("Connection time-out")

    async def _chroot_exists(self) -> bool:
        try:
            return await self.exists("/") is not None
        except KazooException:
            return True

    async def stop(self) -> None:
        """End the session; pending requests fail with ConnectionLoss.

        :raises WriterNotClosedException: the server did not confirm in time (the
            connection is closed anyway).
        """
        async with self._lifecycle():
            await self._stop()

    async def _stop(self) -> None:
        driver = self._connection
        if driver is None:
            return
        driver.request_stop()
        bound = max(10.0, self._session.timeout_s if self._session else 10.0)
        finished = await driver.wait(bound)
        if not finished:
            await driver.abort()
        self._connection = None
        if self._client_state is not KeeperState.CLOSED:  # e.g. after AUTH_FAILED
            self._on_keeper_state(KeeperState.CLOSED)
        if not finished:
            raise WriterNotClosedException("the connection did not close in time")

    async def restart(self) -> None:
        """``stop()`` then ``start()``."""
        async with self._lifecycle():
            await self._stop()
            await self._start(15)

    async def close(self) -> None:
        """Stop if started, then run the callbacks still queued (bounded)."""
        async with self._lifecycle():
            await self._stop()
        await self._callbacks.drain(_DRAIN_TIMEOUT)

    async def __aenter__(self) -> AsyncKazooClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self.stop()
        finally:
            await self.close()

    # -- submission -------------------------------------------------------------

    def _submit_op(self, op: Op) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        driver = self._connection
        refusal = self._refusal()
        if driver is None or refusal is not None:
            future.set_exception(refusal or ConnectionClosedError("Connection has been closed"))
        else:
            driver.submit(Pending(op.request, future, op.post, op.watch))
        return future

    async def _run_steps(self, steps: OpGenerator) -> Any:
        """Run a generator of ops, awaiting each; its return value."""
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    op = steps.throw(error) if error is not None else steps.send(value)
                except StopIteration as done:
                    return done.value
                try:
                    value, error = await self._submit_op(op), None
                except Exception as exc:
                    value, error = None, exc
        finally:
            steps.close()

    def remove_watch(self, path: str, watch: Any, watcher_type: int = WatcherType.ANY) -> None:
        """**[new]** As ``KazooClient.remove_watch``: forget one watch function on ``path``;
        the server's watch goes when no local watch of that type is left there."""
        kinds = _policy.kinds_of_type(watcher_type)
        self._release_watcher(watch, self._ops.paths.server(path), kinds)

    def _release_watcher(self, watcher: Any, path: str, kinds: Sequence[WatchKind]) -> None:
        """Drop ``watcher``'s registrations (server ``path``); remove the server's watch
        when it was the last local one of its type. A server older than 3.9 refuses the
        persistent types: then the watches of the path go with type ANY, if no other
        local watch is left on it."""
        driver = self._connection
        if driver is None or not driver.alive:
            return
        for code in _policy.release_watcher(driver.session, watcher, path, kinds):
            removed: asyncio.Future[Any] = driver.loop.create_future()
            if code in (WatcherType.PERSISTENT, WatcherType.PERSISTENT_RECURSIVE):
                removed.add_done_callback(functools.partial(self._removal_refused, path))
            else:
                removed.add_done_callback(_ignore_outcome)
            driver.submit(Pending(ser.RemoveWatches(path, code), removed))

    def _removal_refused(self, path: str, removed: asyncio.Future[Any]) -> None:
        if removed.cancelled() or not isinstance(removed.exception(), MarshallingError):
            return
        driver = self._connection
        if driver is not None and driver.alive and _policy.path_unwatched(driver.session, path):
            any_type = driver.loop.create_future()
            any_type.add_done_callback(_ignore_outcome)
            driver.submit(Pending(ser.RemoveWatches(path, WatcherType.ANY), any_type))

    async def retry(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Await ``func(*args, **kwargs)`` under a fresh copy of the command retry policy.

        :raises RetryFailedError: the policy gave up (``__cause__``: the last error).
        """
        policy = self._retry.copy()
        policy._begin()
        while True:
            try:
                return await call_maybe_async(func, *args, **kwargs)
            except ConnectionClosedError:
                raise
            except policy.retry_exceptions as exc:
                for chunk in policy._sleep_steps(policy._next_sleep(exc), exc):
                    await asyncio.sleep(chunk)

    # -- operations ---------------------------------------------------------------

    async def create(
        self,
        path: str,
        value: bytes | None = b"",
        acl: Sequence[ACL] | None = None,
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
        include_data: bool = False,
        container: bool = False,
        ttl: int | None = None,
    ) -> Any:
        """Create a node; the created path (or ``(path, ZnodeStat)`` with include_data)."""
        if not isinstance(makepath, bool):
            raise TypeError("makepath must be a bool")
        op = self._ops.create(path, value, acl, ephemeral, sequence, include_data, container, ttl)
        if makepath:
            return await self._run_steps(self._ops.create_makepath(op, path, acl))
        return await self._submit_op(op)

    async def ensure_path(self, path: str, acl: Sequence[ACL] | None = None) -> Any:
        """Create ``path`` and its missing ancestors; ``True`` if it existed."""
        return await self._run_steps(self._ops.ensure_path(path, acl))

    async def exists(self, path: str, watch: Watcher | None = None) -> ZnodeStat | None:
        """The node's ZnodeStat, or None; the watch is left either way."""
        return await self._submit_op(self._ops.exists(path, watch))

    async def get(self, path: str, watch: Watcher | None = None) -> tuple[bytes | None, ZnodeStat]:
        """``(data, ZnodeStat)`` of a node."""
        return await self._submit_op(self._ops.get(path, watch))

    async def get_children(
        self, path: str, watch: Watcher | None = None, include_data: bool = False
    ) -> Any:
        """Child names (or ``(names, ZnodeStat)`` with include_data)."""
        return await self._submit_op(self._ops.get_children(path, watch, include_data))

    async def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        """Set a node's data; its new ZnodeStat."""
        return await self._submit_op(self._ops.set(path, value, version))

    async def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        """Delete a node (and, with recursive, everything below it)."""
        if not isinstance(recursive, bool):
            raise TypeError("recursive must be a bool")
        if recursive:
            return await self._run_steps(self._ops.delete_recursive(path))
        return await self._submit_op(self._ops.delete(path, version))

    async def get_acls(self, path: str) -> tuple[list[ACL], ZnodeStat]:
        """``(acl list, ZnodeStat)`` of a node."""
        return await self._submit_op(self._ops.get_acls(path))

    async def set_acls(self, path: str, acls: Sequence[ACL], version: int = -1) -> ZnodeStat:
        """Set a node's ACL (``version`` is compared with ``aversion``)."""
        return await self._submit_op(self._ops.set_acls(path, acls, version))

    async def sync(self, path: str) -> str:
        """Make the connected server catch up with the leader; the path."""
        return await self._submit_op(self._ops.sync(path))

    async def add_auth(self, scheme: str, credential: str) -> bool:
        """Authenticate the connection; replayed after every reconnect."""
        op = self._ops.auth(scheme, credential)
        self.auth_data.add((scheme, credential))
        return await self._submit_op(op)

    async def reconfig(
        self,
        joining: str | None,
        leaving: str | None,
        new_members: str | None,
        from_config: int = -1,
    ) -> tuple[bytes, ZnodeStat]:
        """Change the ensemble; the new ``/zookeeper/config`` data and stat."""
        op = self._ops.reconfig(joining, leaving, new_members, from_config)
        return await self._submit_op(op)

    async def add_watch(self, path: str, watch: Watcher, mode: int) -> bool:
        """Add a persistent (or persistent recursive) watch."""
        return await self._submit_op(self._ops.add_watch(path, watch, mode))

    async def remove_all_watches(self, path: str, watcher_type: int) -> bool:
        """Remove every watch of this client of ``watcher_type`` on ``path``."""
        op = self._ops.remove_all_watches(path, watcher_type)
        return await self._submit_op(op)

    async def get_ephemerals(self, prefix: str = "/") -> list[str]:
        """Sorted paths of this session's ephemeral nodes starting with ``prefix``."""
        return await self._submit_op(self._ops.get_ephemerals(prefix))

    async def get_all_children_number(self, path: str) -> int:
        """Number of all descendants of ``path``."""
        op = self._ops.get_all_children_number(path)
        return await self._submit_op(op)

    async def whoami(self) -> list[ClientInfo]:
        """The identities the server knows this session by."""
        return await self._submit_op(self._ops.whoami())

    def transaction(self) -> AsyncTransactionRequest:
        """A new transaction: ``await t.commit()`` or ``async with zk.transaction() as t``."""
        return AsyncTransactionRequest(self)

    # -- watches as async iterators -------------------------------------------------

    def watch_data(self, path: str) -> DataWatchIterator:
        """Async iterator of ``(data, stat, event)``: at once, then per change."""
        return DataWatchIterator(self, path)

    def watch_children(self, path: str) -> ChildrenWatchIterator:
        """Async iterator of ``(children, event)``; ends when the node is gone."""
        return ChildrenWatchIterator(self, path)

    def watch_events(
        self, path: str, mode: int = AddWatchMode.PERSISTENT_RECURSIVE
    ) -> EventsIterator:
        """Async iterator of the WatchedEvents of a persistent watch (buffered)."""
        return EventsIterator(self, path, mode)

    # -- four-letter words ----------------------------------------------------------

    async def command(self, cmd: bytes = b"ruok") -> str:
        """Send a four-letter word to the connected server; its text reply."""
        driver = self._connection
        address = driver._address if driver is not None and self.connected else None
        return await _fourletter.command_async(address, cmd, self._timeout)

    async def server_version(self, retries: int = 3) -> tuple[int, ...]:
        """The connected server's version, e.g. ``(3, 8, 0)``."""
        return await _fourletter.server_version_async(self.command, retries)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a watch the server no longer had: nothing to do
