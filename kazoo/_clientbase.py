"""What :class:`kazoo.client.KazooClient` and :class:`kazoo.aio.AsyncKazooClient` share.

Constructor argument checking, hosts and chroot, the retry policies, the read-only
properties, listener bookkeeping and the one mapping of a new ``KeeperState`` to the
application's ``KazooState``. A subclass supplies the flavour-specific parts: how
"connected" is signalled (:meth:`ClientBase._set_live`), how listeners are run
(:meth:`ClientBase._announce`) and which ``sleep_func`` its retry policies carry.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Sequence
from typing import Any, Callable

from kazoo._ops import Builders, Paths
from kazoo.exceptions import AuthFailedError, ConfigurationError, ConnectionClosedError
from kazoo.hosts import collect_hosts
from kazoo.protocol.paths import validate_path
from kazoo.protocol.session import Session
from kazoo.protocol.states import KazooState, KeeperState, to_kazoo_state
from kazoo.retry import KazooRetry
from kazoo.security import ACL, OPEN_ACL_UNSAFE

log = logging.getLogger("kazoo.client")

RETRY_DEFAULTS = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 3600}
DEPRECATED_RETRY_KWARGS = {
    "max_retries": "max_tries",
    "retry_delay": "delay",
    "retry_backoff": "backoff",
    "retry_max_delay": "max_delay",
}
_LIVE_STATES = (KeeperState.CONNECTED, KeeperState.CONNECTED_RO)
#: Frames of ``warnings.warn`` up to the user's constructor call (warn, the helper,
#: ClientBase.__init__, the subclass __init__, the caller).
_USER_FRAME = 4


class RecipeFactory:
    """A class attribute that reads, on a client, as ``functools.partial(cls, client)``.

    Made on access rather than stored per client: a client carries no factory objects.
    """

    __slots__ = ("cls",)

    def __init__(self, cls: Callable[..., Any]) -> None:
        self.cls = cls

    def __get__(self, client: Any, owner: Any = None) -> functools.partial[Any]:
        if client is None:
            return functools.partial(self.cls)
        return functools.partial(self.cls, client)


class ClientBase:
    """Settings, state and listeners of one client (see the API contract, §2.1.1-§2.1.3)."""

    _connection: Any = None  # the driver of the current start, set by the subclass

    def __init__(
        self,
        hosts: str | Sequence[str],
        timeout: float,
        client_id: tuple[int, bytes] | None,
        default_acl: Sequence[ACL] | None,
        auth_data: Sequence[tuple[str, str]] | None,
        sasl_options: dict[str, Any] | None,
        read_only: bool | None,
        randomize_hosts: bool,
        connection_retry: KazooRetry | dict[str, Any] | None,
        command_retry: KazooRetry | dict[str, Any] | None,
        logger: logging.Logger | None,
        use_ssl: bool,
        tls: tuple[Any, ...],
        max_frame_size: int,
        legacy: dict[str, Any],
    ) -> None:
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
        self._tls = tls
        self._connection_retry, self._retry = self._retry_policies(
            connection_retry, command_retry, legacy
        )
        self.state_listeners: set[Callable[[KazooState], Any]] = set()
        self._state = KazooState.LOST
        self._client_state = KeeperState.CLOSED
        self._session: Session | None = None
        self._ops = Builders(Paths(self.chroot), self._default_acl)

    # -- construction helpers ---------------------------------------------

    def _take_auth_data(self, auth_data: Any, sasl_options: Any) -> Any:
        for scheme, credential in auth_data or ():
            if scheme == "sasl":
                warnings.warn(
                    "passing SASL credentials in auth_data is deprecated; use sasl_options",
                    DeprecationWarning,
                    stacklevel=_USER_FRAME,
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
            if name not in DEPRECATED_RETRY_KWARGS:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected keyword argument {name!r}"
                )
            warnings.warn(
                f"{name} is deprecated; pass a retry policy",
                DeprecationWarning,
                stacklevel=_USER_FRAME,
            )
            legacy[DEPRECATED_RETRY_KWARGS[name]] = kwargs.pop(name)

        def build(value: Any) -> KazooRetry:
            if isinstance(value, KazooRetry):
                self._check_retry(value)
                return value
            options: dict[str, Any] = dict(RETRY_DEFAULTS)
            options.update(legacy)
            options.update(value or {})
            options["sleep_func"] = self._retry_sleep_func()
            return KazooRetry(**options)

        return build(connection_retry), build(command_retry)

    def _check_retry(self, policy: KazooRetry) -> None:
        """Reject a retry policy this client cannot use (subclass hook)."""

    def _retry_sleep_func(self) -> Callable[[float], Any]:
        raise NotImplementedError

    def _default_acl(self) -> Sequence[ACL]:
        return self.default_acl if self.default_acl is not None else OPEN_ACL_UNSAFE

    def _new_session(self) -> Session:
        """The Session of a new start (a ``client_id`` given to the constructor is used once)."""
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
        return session

    def _refusal(self) -> Exception | None:
        """The error a request gets at once when no session can take it, else ``None``."""
        if self._connection is None:
            return ConnectionClosedError("Connection has been closed")
        if self._client_state is KeeperState.AUTH_FAILED:
            return AuthFailedError("authentication failed")
        return None

    # -- properties -------------------------------------------------------

    @property
    def state(self) -> KazooState:
        return self._state

    @property
    def client_state(self) -> KeeperState:
        return self._client_state

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        session = self._session
        if session is not None and self.connected:
            return (session.session_id, session.passwd)
        return None

    @property
    def last_zxid(self) -> int:
        return self._session.last_zxid if self._session is not None else 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} hosts={self.hosts!r} chroot={self.chroot!r} "
            f"state={self._state}>"
        )

    # -- state ------------------------------------------------------------

    def _on_keeper_state(self, keeper: KeeperState) -> None:
        """Called by the I/O owner on every change of the client state."""
        self._client_state = keeper
        self._set_live(keeper in _LIVE_STATES)
        new = to_kazoo_state(keeper, self._state)
        if new is self._state:
            return
        self._state = new
        self.logger.info("zookeeper connection state changed: %s", new)
        self._announce(new)

    def _set_live(self, live: bool) -> None:
        raise NotImplementedError

    def _announce(self, state: KazooState) -> None:
        """Have the listeners called with ``state`` (in order, off the I/O path)."""
        raise NotImplementedError

    def _listener_returned(self, listener: Callable[[KazooState], Any], result: Any) -> None:
        if result is True:
            self.state_listeners.discard(listener)

    def add_listener(self, listener: Callable[[KazooState], Any]) -> None:
        """Call ``listener(state)`` on every change of :attr:`state`."""
        if not callable(listener):
            raise ConfigurationError("listener must be callable")
        self.state_listeners.add(listener)

    def remove_listener(self, listener: Callable[[KazooState], Any]) -> None:
        """Stop calling ``listener`` (no error if it is not registered)."""
        self.state_listeners.discard(listener)

    # -- hosts and paths --------------------------------------------------

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

    def unchroot(self, path: str) -> str:
        """Strip the chroot from a server path."""
        return self._ops.paths.client(path)
