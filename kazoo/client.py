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
from kazoo._ops import Builders, Op, OpGenerator, Paths
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
from kazoo.handlers._driver import Driver
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.hosts import collect_hosts
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.paths import validate_path
from kazoo.protocol.session import Pending, Session
from kazoo.protocol.states import (
    Callback,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    ZnodeStat,
    to_kazoo_state,
)
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
]

log = logging.getLogger(__name__)

_RETRY_DEFAULTS = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 3600}
_DEPRECATED_RETRY_KWARGS = {
    "max_retries": "max_tries",
    "retry_delay": "delay",
    "retry_backoff": "backoff",
    "retry_max_delay": "max_delay",
}
Watcher = Callable[[WatchedEvent], Any]


class KazooClient:
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
        self.logger = logger if logger is not None else log
        self.hosts: list[tuple[str, int]] = []
        self.chroot = ""
        self.set_hosts(hosts)
        self._timeout = float(timeout)
        self._initial_client_id = client_id
        self.default_acl = default_acl
        self.read_only = read_only
        self.randomize_hosts = randomize_hosts
        self.max_frame_size = int(max_frame_size)
        self.auth_data: set[tuple[str, str]] = set()
        sasl_options = self._take_auth_data(auth_data, sasl_options)
        if sasl_options is not None:
            raise ConfigurationError("SASL authentication is not supported yet")
        if use_ssl:
            raise ConfigurationError("TLS connections are not supported yet")
        self._tls = (keyfile, keyfile_password, certfile, ca, verify_certs, check_hostname)
        self._connection_retry, self._retry = self._retry_policies(
            connection_retry, command_retry, kwargs
        )
        self.state_listeners: set[Callable[[KazooState], Any]] = set()
        self._state = KazooState.LOST
        self._client_state = KeeperState.CLOSED
        self._live = self.handler.event_object()
        self._lifecycle = self.handler.rlock_object()  # a greenlet may wait while holding it
        self._connection: Driver | None = None
        self._session: Session | None = None
        self._ops = Builders(Paths(self.chroot), self._default_acl)

    # -- construction helpers -------------------------------------------

    def _take_auth_data(self, auth_data: Any, sasl_options: Any) -> Any:
        for scheme, credential in auth_data or ():
            if scheme == "sasl":
                warnings.warn(
                    "passing SASL credentials in auth_data is deprecated; use sasl_options",
                    DeprecationWarning,
                    stacklevel=3,
                )
                if sasl_options is not None:
                    raise ConfigurationError(
                        "give SASL credentials once: auth_data or sasl_options"
                    )
                user, _, password = credential.partition(":")
                sasl_options = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
                continue
            if not isinstance(scheme, str) or not isinstance(credential, str):
                raise TypeError("auth_data entries must be (scheme, credential) strings")
            self.auth_data.add((scheme, credential))
        return sasl_options

    def _retry_policies(
        self, connection_retry: Any, command_retry: Any, kwargs: dict[str, Any]
    ) -> tuple[KazooRetry, KazooRetry]:
        legacy: dict[str, Any] = {}
        for name in list(kwargs):
            if name not in _DEPRECATED_RETRY_KWARGS:
                raise TypeError(f"KazooClient got an unexpected keyword argument {name!r}")
            warnings.warn(
                f"{name} is deprecated; pass a retry policy", DeprecationWarning, stacklevel=3
            )
            legacy[_DEPRECATED_RETRY_KWARGS[name]] = kwargs.pop(name)

        def build(value: Any) -> KazooRetry:
            if isinstance(value, KazooRetry):
                if value.sleep_func is not self.handler.sleep_func:
                    raise ConfigurationError(
                        "the retry policy's sleep_func must be the handler's sleep_func"
                    )
                return value
            options: dict[str, Any] = dict(_RETRY_DEFAULTS)
            options.update(legacy)
            options.update(value or {})
            options["sleep_func"] = self.handler.sleep_func
            return KazooRetry(**options)

        return build(connection_retry), build(command_retry)

    def _default_acl(self) -> Sequence[ACL]:
        return self.default_acl if self.default_acl is not None else OPEN_ACL_UNSAFE

    # -- properties -----------------------------------------------------

    @property
    def state(self) -> KazooState:
        return self._state

    @property
    def client_state(self) -> KeeperState:
        return self._client_state

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        session = self._session
        if session is not None and self._live.is_set():
            return (session.session_id, session.passwd)
        return None

    @property
    def connected(self) -> bool:
        return bool(self._live.is_set())

    @property
    def last_zxid(self) -> int:
        return self._session.last_zxid if self._session is not None else 0

    def __repr__(self) -> str:
        return f"<KazooClient hosts={self.hosts!r} chroot={self.chroot!r} state={self._state}>"

    # -- state ------------------------------------------------------------

    def _on_keeper_state(self, keeper: KeeperState) -> None:
        """Called by the I/O owner on every change of the client state."""
        self._client_state = keeper
        if keeper in (KeeperState.CONNECTED, KeeperState.CONNECTED_RO):
            self._live.set()
        else:
            self._live.clear()
        new = to_kazoo_state(keeper, self._state)
        if new is self._state:
            return
        self._state = new
        self.logger.info("zookeeper connection state changed: %s", new)
        self.handler.dispatch_callback(Callback("state", self._call_listeners, (new,)))

    def _call_listeners(self, state: KazooState) -> None:
        for listener in list(self.state_listeners):
            try:
                if listener(state) is True:
                    self.state_listeners.discard(listener)
            except Exception:
                self.logger.exception("a state listener raised")

    def add_listener(self, listener: Callable[[KazooState], Any]) -> None:
        """Call ``listener(state)`` on every change of :attr:`state`."""
        if not callable(listener):
            raise ConfigurationError("listener must be callable")
        self.state_listeners.add(listener)

    def remove_listener(self, listener: Callable[[KazooState], Any]) -> None:
        self.state_listeners.discard(listener)

    # -- lifecycle -------------------------------------------------------

    def set_hosts(self, hosts: str | Sequence[str], randomize_hosts: bool | None = None) -> None:
        """Use a new host list from the next connect pass on."""
        parsed, chroot = collect_hosts(hosts)
        chroot = chroot or ""
        if chroot:
            validate_path(chroot)
        if self.hosts and chroot != self.chroot:
            raise ConfigurationError("set_hosts cannot change the chroot")
        self.chroot = chroot
        self.hosts = list(parsed)
        if randomize_hosts is not None:
            self.randomize_hosts = randomize_hosts

    def start_async(self) -> Any:
        """Begin connecting; return the event that is set while connected."""
        with self._lifecycle:
            driver = self._connection
            if driver is not None and driver.alive:
                return self._live
            self.handler.start()
            client_id = self._initial_client_id
            self._initial_client_id = None
            session = Session(
                timeout_ms=int(self._timeout * 1000),
                read_only=bool(self.read_only),
                max_frame_size=self.max_frame_size,
                chroot=self.chroot,
                client_id=client_id,
                auth_data=self.auth_data,
            )
            self._session = session
            self._connection = Driver(self, session)
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

    def unchroot(self, path: str) -> str:
        """Strip the chroot from a server path."""
        return self._ops.paths.client(path)

    # -- submission ----------------------------------------------------------

    def _submit_op(self, op: Op, handle: Any = None) -> Any:
        if handle is None:
            handle = self.handler.async_result()
        driver = self._connection
        pending = Pending(op.request, handle, op.post, op.watch)
        if driver is None:
            handle.set_exception(ConnectionClosedError("Connection has been closed"))
        elif self._client_state is KeeperState.AUTH_FAILED:
            handle.set_exception(AuthFailedError("authentication failed"))
        else:
            driver.submit(pending)
        return handle

    def _run_steps(self, steps: OpGenerator) -> Any:
        """Run a generator of ops through callbacks; an IAsyncResult of its return."""
        handle = self.handler.async_result()

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
