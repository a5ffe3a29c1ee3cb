"""``KazooClient``: the blocking ZooKeeper client and its ``*_async`` twins.

Every operation is built once by :mod:`kazoo._ops`, submitted to the single
I/O owner (:class:`kazoo.handlers._driver.Driver`) and completed through the
handler's ``IAsyncResult``; the blocking form is ``<name>_async(...).get()``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any, Callable

from kazoo import _fourletter
from kazoo._clientbase import ClientBase, RecipeFactory
from kazoo._ops import Op, OpGenerator
from kazoo._transaction import TransactionRequest
from kazoo.exceptions import (
    AuthFailedError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    WriterNotClosedException,
)
from kazoo.handlers import _policy
from kazoo.handlers._driver import Driver, Release
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.session import Pending
from kazoo.protocol.states import (
    Callback,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    WatcherType,
    ZnodeStat,
)
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lease import MultiNonBlockingLease, NonBlockingLease
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.partitioner import SetPartitioner
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.recipe.watchers import ChildrenWatch, DataWatch
from kazoo.retry import KazooRetry
from kazoo.security import ACL, OPEN_ACL_UNSAFE, ClientInfo

__all__ = [
    "KazooClient",
    "TransactionRequest",
    "KazooState",
    "KeeperState",
    "EventType",
    "WatchedEvent",
    "Callback",
    "KazooRetry",
    "ACL",
    "OPEN_ACL_UNSAFE",
    "SequentialThreadingHandler",
    "AuthFailedError",
    "ConfigurationError",
    "ConnectionClosedError",
    "ConnectionLoss",
    "KazooException",
    "NoNodeError",
    "NodeExistsError",
    "SessionExpiredError",
    "WriterNotClosedException",
    "Barrier",
    "ChildrenWatch",
    "Counter",
    "DataWatch",
    "DoubleBarrier",
    "Election",
    "Lock",
    "LockingQueue",
    "Party",
    "Queue",
    "ReadLock",
    "Semaphore",
    "ShallowParty",
    "WriteLock",
    "SetPartitioner",
    "NonBlockingLease",
    "MultiNonBlockingLease",
]

Watcher = Callable[[WatchedEvent], Any]


class KazooClient(ClientBase):
    """A ZooKeeper client (see the API contract for every member)."""

    def __init__(
        self,
        hosts: str | Sequence[str] = "127.0.0.1:2181",
        timeout: float = 10.0,
        client_id: tuple[int, bytes] | None = None,
        handler: Any = None,
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
        **kwargs: Any,
    ) -> None:
        if isinstance(handler, type):
            raise ConfigurationError("handler must be an instance, not a class")
        self.handler = handler if handler is not None else SequentialThreadingHandler()
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
            kwargs,
        )
        self._live = self.handler.event_object()
        self._lifecycle = self.handler.rlock_object()  # a greenlet may wait while holding it
        self._connection: Driver | None = None

    # The recipe factories (API §2.1.2): ``client.Lock(path)`` is ``Lock(client, path)``.
    Barrier = RecipeFactory(Barrier)
    Counter = RecipeFactory(Counter)
    DoubleBarrier = RecipeFactory(DoubleBarrier)
    ChildrenWatch = RecipeFactory(ChildrenWatch)
    DataWatch = RecipeFactory(DataWatch)
    Election = RecipeFactory(Election)
    Lock = RecipeFactory(Lock)
    ReadLock = RecipeFactory(ReadLock)
    WriteLock = RecipeFactory(WriteLock)
    Semaphore = RecipeFactory(Semaphore)
    Party = RecipeFactory(Party)
    ShallowParty = RecipeFactory(ShallowParty)
    Queue = RecipeFactory(Queue)
    LockingQueue = RecipeFactory(LockingQueue)
    SetPartitioner = RecipeFactory(SetPartitioner)
    NonBlockingLease = RecipeFactory(NonBlockingLease)
    MultiNonBlockingLease = RecipeFactory(MultiNonBlockingLease)

    # -- flavour hooks of ClientBase --------------------------------------

    def _check_retry(self, policy: KazooRetry) -> None:
        if policy.sleep_func is not self.handler.sleep_func:
            raise ConfigurationError(
                "the retry policy's sleep_func must be the handler's sleep_func"
            )

    def _retry_sleep_func(self) -> Callable[[float], Any]:
        return self.handler.sleep_func

    @property
    def connected(self) -> bool:
        return bool(self._live.is_set())

    def _set_live(self, live: bool) -> None:
        if live:
            self._live.set()
        else:
            self._live.clear()

    def _announce(self, state: KazooState) -> None:
        if self.state_listeners:  # nobody listening: no callback (and no worker thread)
            self.handler.dispatch_callback(Callback("state", self._call_listeners, (state,)))

    def _call_listeners(self, state: KazooState) -> None:
        for listener in list(self.state_listeners):
            try:
                self._listener_returned(listener, listener(state))
            except Exception:
                self.logger.exception("a state listener raised")

    # -- lifecycle -------------------------------------------------------

    def start_async(self) -> Any:
        """Begin connecting; return the event that is set while connected."""
        with self._lifecycle:
            driver = self._connection
            if driver is not None and driver.alive:
                return self._live
            self.handler.start()
            self._connection = Driver(self, self._new_session())
            self._connection.start()
            return self._live

    def start(self, timeout: float = 15) -> None:
        """Connect, waiting up to ``timeout`` seconds for CONNECTED."""
        event = self.start_async()
        deadline = time.monotonic() + timeout
        while True:  # a connection that comes and goes before we look does not count
            left = deadline - time.monotonic()
            if event.wait(timeout=max(left, 0.0)) and self.connected:
                break
            if left <= 0:
                break
        if not self.connected:
            self.stop()
            self.close()
            raise self.handler.timeout_exception("Connection time-out")
        if self.chroot and not self._chroot_exists():
            warnings.warn(f"the chroot {self.chroot!r} does not exist", UserWarning, stacklevel=2)

    def _chroot_exists(self) -> bool:
        try:
            return self.exists("/") is not None
        except KazooException:
            return True

    def stop(self) -> None:
        """End the session; pending requests fail with ConnectionLoss."""
        with self._lifecycle:
            driver = self._connection
            if driver is None:
                return
            driver.request_stop()
            bound = max(10.0, self._session.timeout_s if self._session else 10.0)
            if not driver.join(bound):
                raise WriterNotClosedException("the connection did not close in time")
            self._connection = None
            if self._client_state is not KeeperState.CLOSED:  # e.g. after AUTH_FAILED
                self._on_keeper_state(KeeperState.CLOSED)

    def restart(self) -> None:
        """``stop()`` then ``start()``."""
        with self._lifecycle:
            self.stop()
            self.start()

    def close(self) -> None:
        """Free the handler's workers (stopping the client first if needed)."""
        with self._lifecycle:
            if self._connection is not None:
                self.stop()
            self.handler.stop()

    def __enter__(self) -> KazooClient:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
        self.close()

    # -- submission ----------------------------------------------------------

    def _submit_op(self, op: Op, handle: Any = None) -> Any:
        if handle is None:
            handle = self.handler.async_result()
        driver = self._connection
        if driver is not None and self._client_state is not KeeperState.AUTH_FAILED:
            driver.submit(Pending(op.request, handle, op.post, op.watch))
            if driver.leads:
                try:
                    handle._driver = driver  # its waiter may read the reply itself
                except AttributeError:  # a result class of a handler's own
                    pass
        else:
            refusal = self._refusal() or ConnectionClosedError("Connection has been closed")
            handle.set_exception(refusal)
        return handle

    def _run_steps(self, steps: OpGenerator) -> Any:
        """Run a generator of ops through callbacks; an IAsyncResult of its return."""
        handle = self.handler.async_result()
        refusal = self._refusal()
        if refusal is not None:  # no session: the completion worker may not even be running
            steps.close()
            handle.set_exception(refusal)
            return handle

        def advance(value: Any = None, error: BaseException | None = None) -> None:
            try:
                op = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as done:
                handle.set(done.value)
                return
            except Exception as exc:
                handle.set_exception(exc)
                return
            step = self.handler.async_result()
            step.rawlink(lambda r: advance(r.value, r.exception))
            self._submit_op(op, step)

        advance()
        return handle

    def retry(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func`` under a fresh copy of the command retry policy."""
        return self._retry.copy()(func, *args, **kwargs)

    # -- operations ----------------------------------------------------------

    def create_async(
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
    ) -> IAsyncResult:
        if not isinstance(makepath, bool):
            raise TypeError("makepath must be a bool")
        op = self._ops.create(path, value, acl, ephemeral, sequence, include_data, container, ttl)
        if makepath:
            return self._run_steps(self._ops.create_makepath(op, path, acl))
        return self._submit_op(op)

    def create(
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
        return self.create_async(
            path, value, acl, ephemeral, sequence, makepath, include_data, container, ttl
        ).get()

    def ensure_path_async(self, path: str, acl: Sequence[ACL] | None = None) -> IAsyncResult:
        return self._run_steps(self._ops.ensure_path(path, acl))

    def ensure_path(self, path: str, acl: Sequence[ACL] | None = None) -> Any:
        """Create ``path`` and its missing ancestors; ``True`` if it existed."""
        return self.ensure_path_async(path, acl).get()

    def exists_async(self, path: str, watch: Watcher | None = None) -> IAsyncResult:
        return self._submit_op(self._ops.exists(path, watch))

    def exists(self, path: str, watch: Watcher | None = None) -> ZnodeStat | None:
        """The node's ZnodeStat, or None; the watch is left either way."""
        return self.exists_async(path, watch).get()

    def get_async(self, path: str, watch: Watcher | None = None) -> IAsyncResult:
        return self._submit_op(self._ops.get(path, watch))

    def get(self, path: str, watch: Watcher | None = None) -> tuple[bytes | None, ZnodeStat]:
        """``(data, ZnodeStat)`` of a node."""
        return self.get_async(path, watch).get()

    def get_children_async(
        self, path: str, watch: Watcher | None = None, include_data: bool = False
    ) -> IAsyncResult:
        op = self._ops.get_children(path, watch, include_data)
        return self._submit_op(op)

    def get_children(
        self, path: str, watch: Watcher | None = None, include_data: bool = False
    ) -> Any:
        """Child names (or ``(names, ZnodeStat)`` with include_data)."""
        return self.get_children_async(path, watch, include_data).get()

    def set_async(self, path: str, value: bytes, version: int = -1) -> IAsyncResult:
        return self._submit_op(self._ops.set(path, value, version))

    def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        """Set a node's data; its new ZnodeStat."""
        return self.set_async(path, value, version).get()

    def delete_async(self, path: str, version: int = -1, recursive: bool = False) -> IAsyncResult:
        if not isinstance(recursive, bool):
            raise TypeError("recursive must be a bool")
        if recursive:
            return self._run_steps(self._ops.delete_recursive(path))
        return self._submit_op(self._ops.delete(path, version))

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        """Delete a node (and, with recursive, everything below it)."""
        return self.delete_async(path, version, recursive).get()

    def get_acls_async(self, path: str) -> IAsyncResult:
        return self._submit_op(self._ops.get_acls(path))

    def get_acls(self, path: str) -> tuple[list[ACL], ZnodeStat]:
        return self.get_acls_async(path).get()

    def set_acls_async(self, path: str, acls: Sequence[ACL], version: int = -1) -> IAsyncResult:
        return self._submit_op(self._ops.set_acls(path, acls, version))

    def set_acls(self, path: str, acls: Sequence[ACL], version: int = -1) -> ZnodeStat:
        return self.set_acls_async(path, acls, version).get()

    def sync_async(self, path: str) -> IAsyncResult:
        return self._submit_op(self._ops.sync(path))

    def sync(self, path: str) -> str:
        return self.sync_async(path).get()

    def add_auth_async(self, scheme: str, credential: str) -> IAsyncResult:
        op = self._ops.auth(scheme, credential)
        self.auth_data.add((scheme, credential))
        return self._submit_op(op)

    def add_auth(self, scheme: str, credential: str) -> bool:
        """Authenticate the connection; replayed after every reconnect."""
        return self.add_auth_async(scheme, credential).get()

    def reconfig_async(
        self,
        joining: str | None,
        leaving: str | None,
        new_members: str | None,
        from_config: int = -1,
    ) -> IAsyncResult:
        op = self._ops.reconfig(joining, leaving, new_members, from_config)
        return self._submit_op(op)

    def reconfig(
        self,
        joining: str | None,
        leaving: str | None,
        new_members: str | None,
        from_config: int = -1,
    ) -> tuple[bytes, ZnodeStat]:
        return self.reconfig_async(joining, leaving, new_members, from_config).get()

    def add_watch_async(self, path: str, watch: Watcher, mode: int) -> IAsyncResult:
        return self._submit_op(self._ops.add_watch(path, watch, mode))

    def add_watch(self, path: str, watch: Watcher, mode: int) -> bool:
        """Add a persistent (or persistent recursive) watch."""
        return self.add_watch_async(path, watch, mode).get()

    def remove_all_watches_async(self, path: str, watcher_type: int) -> IAsyncResult:
        return self._submit_op(self._ops.remove_all_watches(path, watcher_type))

    def remove_all_watches(self, path: str, watcher_type: int) -> bool:
        return self.remove_all_watches_async(path, watcher_type).get()

    def remove_watch(self, path: str, watch: Watcher, watcher_type: int = WatcherType.ANY) -> None:
        """**[new]** Forget the one watch function ``watch`` registered on ``path`` (its
        watches of ``watcher_type``); other functions watching the path keep theirs. When no
        local watch of that type is left on the path, the server's watch is removed too
        (server >= 3.5). Unknown functions are ignored; nothing is awaited."""
        kinds = _policy.kinds_of_type(watcher_type)
        server_path = self._ops.paths.server(path)
        driver = self._connection
        if driver is not None:
            driver.submit(Release(watch, server_path, kinds))

    def get_ephemerals_async(self, prefix: str = "/") -> IAsyncResult:
        return self._submit_op(self._ops.get_ephemerals(prefix))

    def get_ephemerals(self, prefix: str = "/") -> list[str]:
        return self.get_ephemerals_async(prefix).get()

    def get_all_children_number_async(self, path: str) -> IAsyncResult:
        return self._submit_op(self._ops.get_all_children_number(path))

    def get_all_children_number(self, path: str) -> int:
        return self.get_all_children_number_async(path).get()

    def whoami_async(self) -> IAsyncResult:
        return self._submit_op(self._ops.whoami())

    def whoami(self) -> list[ClientInfo]:
        return self.whoami_async().get()

    def transaction(self) -> TransactionRequest:
        """A new :class:`TransactionRequest` bound to this client."""
        return TransactionRequest(self)

    # -- four-letter words ---------------------------------------------------

    def command(self, cmd: bytes = b"ruok") -> str:
        """Send a four-letter word to the connected server; its text reply."""
        driver = self._connection
        address = driver._address if driver is not None and self.connected else None
        return _fourletter.command(address, cmd, self._timeout, self.handler.create_connection)

    def server_version(self, retries: int = 3) -> tuple[int, ...]:
        """The connected server's version, e.g. ``(3, 8, 0)``."""
        return _fourletter.server_version(self.command, retries)
