"""Test harness: a process-wide ZooKeeper cluster and ``unittest`` helpers.

``get_global_cluster()`` returns one ``ZookeeperCluster`` per process, built
from the environment (``ZOOKEEPER_PATH``, ``ZOOKEEPER_CLASSPATH``,
``ZOOKEEPER_VERSION``, ``ZOOKEEPER_PORT_OFFSET``, ``ZOOKEEPER_CLUSTER_SIZE``,
``ZOOKEEPER_OBSERVER_START_ID``, ``ZOOKEEPER_JAAS_AUTH``,
``ZOOKEEPER_LOCAL_SESSION_RO``) and rebuilt whenever that configuration
changes. Without ``ZOOKEEPER_PORT_OFFSET`` it runs on free, locked ports.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import unittest
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kazoo.testing._faults import EventFactory, drop_connection, expire_session
from kazoo.testing._process import PortClaim, claim_port_base
from kazoo.testing.common import SUPER_PASSWORD, SUPER_USER, ZookeeperCluster
from kazoo.testing.handlers import make_handler

if TYPE_CHECKING:
    from kazoo.client import KazooClient

__all__ = [
    "ClusterConfig",
    "KazooTestCase",
    "KazooTestHarness",
    "create_chroot",
    "delete_chroot",
    "ensure_global_cluster",
    "get_global_cluster",
    "global_cluster_logs",
    "rebuild_global_cluster",
    "terminate_global_cluster",
]

log = logging.getLogger(__name__)

HEALTH_TRIES = 5
HEALTH_START_TIMEOUT = 60.0
SUPER_AUTH = ("digest", f"{SUPER_USER}:{SUPER_PASSWORD}")

_DIGEST_JAAS = """Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
"""

_GSSAPI_JAAS = """Server {{
    com.sun.security.auth.module.Krb5LoginModule required
    debug=true
    isInitiator=false
    useKeyTab=true
    keyTab="{keytab}"
    storeKey=true
    useTicketCache=false
    principal="zookeeper/127.0.0.1@KAZOOTEST.ORG";
}};
"""

_SASL_PROVIDER = "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


@dataclass(frozen=True)
class ClusterConfig:
    """The environment's say on how the global cluster is built."""

    install_path: str | None
    classpath: str | None
    version: str | None
    port_offset: int | None  # None: pick free ports
    size: int
    observer_start_id: int
    jaas_auth: str | None
    local_session_ro: str

    @classmethod
    def from_env(cls) -> ClusterConfig:
        env = os.environ
        return cls(
            install_path=env.get("ZOOKEEPER_PATH") or None,
            classpath=env.get("ZOOKEEPER_CLASSPATH") or None,
            version=env.get("ZOOKEEPER_VERSION") or None,
            port_offset=_env_int("ZOOKEEPER_PORT_OFFSET", None),
            size=_env_int("ZOOKEEPER_CLUSTER_SIZE", 3) or 3,
            observer_start_id=_env_int("ZOOKEEPER_OBSERVER_START_ID", -1) or -1,
            jaas_auth=(env.get("ZOOKEEPER_JAAS_AUTH") or "").strip().lower() or None,
            local_session_ro=(env.get("ZOOKEEPER_LOCAL_SESSION_RO") or "false").strip().lower(),
        )

    def jaas(self) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
        """(JAAS file text, extra configuration entries, extra JVM arguments)."""
        if self.jaas_auth is None:
            return None, (), ()
        if self.jaas_auth == "digest":
            return _DIGEST_JAAS, (_SASL_PROVIDER,), ()
        if self.jaas_auth == "gssapi":
            keytab = os.path.join(os.environ.get("KRB5_TEST_ENV", "."), "server.keytab")
            props: tuple[str, ...] = ()
            if os.environ.get("KRB5_CONFIG"):
                props = (f"-Djava.security.krb5.conf={os.environ['KRB5_CONFIG']}",)
            return _GSSAPI_JAAS.format(keytab=keytab), (_SASL_PROVIDER,), props
        raise ValueError(
            f"ZOOKEEPER_JAAS_AUTH must be 'digest' or 'gssapi', not {self.jaas_auth!r}"
        )

    def build(self, port_offset: int) -> ZookeeperCluster:
        jaas_config, jaas_entries, jaas_props = self.jaas()
        local = "true" if self.local_session_ro in ("1", "true", "yes", "on") else "false"
        return ZookeeperCluster(
            install_path=self.install_path,
            classpath=self.classpath,
            size=self.size,
            port_offset=port_offset,
            observer_start_id=self.observer_start_id,
            configuration_entries=(
                f"localSessionsEnabled={local}",
                f"localSessionsUpgradingEnabled={local}",
                *jaas_entries,
            ),
            java_system_properties=jaas_props,
            jaas_config=jaas_config,
        )


@dataclass
class _Global:
    config: ClusterConfig
    cluster: ZookeeperCluster
    claim: PortClaim | None

    def discard(self) -> None:
        try:
            self.cluster.terminate()
        finally:
            if self.claim is not None:
                self.claim.release()


_lock = threading.RLock()
_global: _Global | None = None


@atexit.register
def _discard_global_at_exit() -> None:
    """Stop the global cluster, then give its port claim back (the lock files stay open
    otherwise until the interpreter tears them down)."""
    global _global
    old, _global = _global, None
    if old is not None:
        old.discard()


def _build_global(config: ClusterConfig) -> _Global:
    if config.port_offset is not None:
        return _Global(config, config.build(config.port_offset), None)
    claim = claim_port_base(config.size)
    try:
        return _Global(config, config.build(claim.base), claim)
    except BaseException:
        claim.release()
        raise


def get_global_cluster() -> ZookeeperCluster:
    """The process-wide cluster for the current environment (not necessarily started)."""
    global _global
    config = ClusterConfig.from_env()
    with _lock:
        if _global is not None and _global.config == config:
            return _global.cluster
        if _global is not None:
            log.info("ZooKeeper test configuration changed: rebuilding the cluster")
            old, _global = _global, None
            old.discard()
        _global = _build_global(config)
        return _global.cluster


def rebuild_global_cluster() -> ZookeeperCluster:
    """Throw the global cluster away (processes, files, ports) and build a new one."""
    global _global
    with _lock:
        if _global is not None:
            old, _global = _global, None
            old.discard()
    return get_global_cluster()


def terminate_global_cluster() -> None:
    """Stop the global cluster and remove its files; its next use starts it afresh."""
    with _lock:
        if _global is not None:
            _global.cluster.terminate()


def global_cluster_logs(num_lines: int = 50) -> str:
    """Log tails of the global cluster's members ("" when there is none)."""
    with _lock:
        cluster = _global.cluster if _global is not None else None
    return cluster.get_logs(num_lines) if cluster is not None else ""


def ensure_global_cluster() -> ZookeeperCluster:
    """Start the global cluster if needed and health-check it.

    Up to 5 tries; members that do not serve are restarted, and after every
    second failed try the whole cluster is rebuilt on new ports.
    """
    failures = 0
    last: BaseException | None = None
    for _ in range(HEALTH_TRIES):
        cluster = get_global_cluster()
        try:
            if cluster.healthy():
                return cluster
            for member in cluster:
                if member.paused:
                    member.resume()
                elif member.running and failures and not member.serving():
                    member.stop()  # stuck: restart it below
            cluster.start(timeout=HEALTH_START_TIMEOUT)
            if cluster.healthy():
                return cluster
            raise RuntimeError("cluster started but does not pass the health check")
        except Exception as exc:  # retried, then re-raised
            failures += 1
            last = exc
            log.warning("ZooKeeper cluster health check failed (%d): %s", failures, exc)
            if failures % 2 == 0:
                rebuild_global_cluster()
    raise RuntimeError(f"ZooKeeper test cluster unhealthy after {HEALTH_TRIES} tries") from last


# --------------------------------------------------------------------------- chroots


def _admin_client(servers: str) -> KazooClient:
    from kazoo.client import KazooClient

    return KazooClient(servers, timeout=10.0, auth_data=[SUPER_AUTH])


def create_chroot(servers: str) -> str:
    """Create a fresh ``/kazootests<uuid hex>`` node on ``servers`` and return its path."""
    namespace = "/kazootests" + uuid.uuid4().hex
    admin = _admin_client(servers)
    try:
        admin.start(timeout=15)
        admin.ensure_path(namespace)
    finally:
        _stop_and_close(admin)
    return namespace


def delete_chroot(servers: str, namespace: str, timeout: float = 10.0) -> None:
    """Delete ``namespace`` recursively as the superuser; errors are logged, not raised."""
    admin = _admin_client(servers)
    try:
        admin.start(timeout=timeout)
        admin.delete_async(namespace, recursive=True).get(timeout=timeout)
    except Exception as exc:  # clean-up is best effort
        log.debug("could not delete test chroot %s: %r", namespace, exc)
    finally:
        _stop_and_close(admin)


def _stop_and_close(client: Any) -> None:
    for step in (client.stop, client.close):
        try:
            step()
        except Exception as exc:  # keep tearing down
            log.debug("error tearing down %r: %r", client, exc)


# --------------------------------------------------------------------------- harness


class KazooTestHarness(unittest.TestCase):
    """Real-ZooKeeper test harness; also usable as a mixin.

    ``setup_zookeeper()`` gives ``self.client`` (started, in a fresh chroot) and
    ``self.hosts``; ``teardown_zookeeper()`` stops every client it made.
    """

    DEFAULT_CLIENT_TIMEOUT = 15
    client: KazooClient | None = None
    hosts: str | None = None
    _namespace: str | None = None

    @property
    def cluster(self) -> ZookeeperCluster:
        return get_global_cluster()

    @property
    def servers(self) -> str:
        return self.cluster.servers

    @property
    def secure_servers(self) -> str:
        return self.cluster.secure_servers

    def _tracked(self) -> list[KazooClient]:
        clients: list[KazooClient] | None = self.__dict__.get("_clients")
        if clients is None:
            clients = []
            self.__dict__["_clients"] = clients
        return clients

    def _new_client(self, hosts: str, **client_options: Any) -> KazooClient:
        from kazoo.client import KazooClient

        if "handler" not in client_options:  # the one KAZOO_TEST_HANDLER names
            client_options["handler"] = make_handler()
        client = KazooClient(hosts, **client_options)
        self._tracked().append(client)
        return client

    def _get_client(self, **client_options: Any) -> KazooClient:
        """A new (not started) tracked client on ``hosts``."""
        client_options.setdefault("timeout", self.DEFAULT_CLIENT_TIMEOUT)
        return self._new_client(self.hosts or self.servers, **client_options)

    def _get_nonchroot_client(self) -> KazooClient:
        """A new (not started) tracked client on ``servers`` (no chroot)."""
        return self._new_client(self.servers)

    def lose_connection(self, event_factory: EventFactory) -> None:
        """Drop ``self.client``'s TCP connection; wait for SUSPENDED and CONNECTED."""
        drop_connection(self.client, timeout=20.0, event_factory=event_factory)

    def expire_session(self, event_factory: EventFactory) -> None:
        """Expire ``self.client``'s session on the server; wait for LOST and CONNECTED."""
        expire_session(self.client, timeout=20.0, event_factory=event_factory)

    def setup_zookeeper(self, **client_options: Any) -> None:
        cluster = ensure_global_cluster()
        self._namespace = create_chroot(cluster.servers)
        base = cluster.secure_servers if client_options.get("use_ssl") else cluster.servers
        self.hosts = base + self._namespace
        client_options.setdefault("timeout", self.DEFAULT_CLIENT_TIMEOUT)
        self.client = self._new_client(self.hosts, **client_options)
        try:
            self.client.start()
        except BaseException:
            self.teardown_zookeeper()
            raise

    def teardown_zookeeper(self) -> None:
        clients = self._tracked()
        while clients:
            _stop_and_close(clients.pop())
        namespace, self._namespace = self._namespace, None
        if namespace is not None:
            delete_chroot(self.servers, namespace)
        self.client = None

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        log.log(level, msg, *args, **kwargs)


class KazooTestCase(KazooTestHarness):
    """``setUp``/``tearDown`` run ``setup_zookeeper``/``teardown_zookeeper``;
    ``tearDownClass`` terminates the global cluster."""

    def setUp(self) -> None:
        self.setup_zookeeper()

    def tearDown(self) -> None:
        self.teardown_zookeeper()

    @classmethod
    def tearDownClass(cls) -> None:
        terminate_global_cluster()
