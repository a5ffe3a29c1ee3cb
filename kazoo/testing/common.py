"""Managed real ZooKeeper servers: one member, or a cluster of them on loopback.

``ManagedZooKeeper`` runs ``org.apache.zookeeper.server.quorum.QuorumPeerMain``
under ``java`` in a private directory, with read-only mode, the Netty
connection factory, a superuser digest (``super``/``test``) and a log file of
its own. A member is reported up only after a real ZooKeeper handshake.
``ZookeeperCluster`` lays out ports (member *i* uses ``port_offset + 10*i`` for
clients, +1 election, +2 leader, +3 admin server, +4 TLS clients) and starts,
stops, resets and terminates its members together.

TLS: ``secure_client_port`` / ``secure_address`` are reserved in the layout,
but no keystores are generated yet, so the servers listen on plain ports only.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from kazoo.testing import _wire
from kazoo.testing._install import ZooKeeperInstall, find_install, find_java
from kazoo.testing._process import BLOCK, spawn, stop_process, wait_stopped

__all__ = ["ManagedZooKeeper", "ServerInfo", "ZooKeeperStartError", "ZookeeperCluster"]

HOST = "127.0.0.1"
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SUPER_USER, SUPER_PASSWORD = "super", "test"
START_TIMEOUT = 90.0
TICK_TIME_MS = 2000
CONTAINER_CHECK_INTERVAL_MS = 1000
JVM_OPTIONS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)


class ZooKeeperStartError(RuntimeError):
    """A managed server did not come up; the message ends with its log tail."""


def super_digest(user: str = SUPER_USER, password: str = SUPER_PASSWORD) -> str:
    """``user:base64(sha1("user:password"))``, the DigestAuthenticationProvider form."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode('ascii')}"


@dataclass(frozen=True)
class ServerInfo:
    """Identity and ports of one member."""

    server_id: int
    client_port: int
    election_port: int
    leader_port: int
    admin_port: int
    secure_client_port: int
    peer_type: str = "participant"  # or "observer"

    @classmethod
    def from_base(cls, server_id: int, base: int, observer: bool = False) -> ServerInfo:
        return cls(
            server_id,
            client_port=base,
            election_port=base + 1,
            leader_port=base + 2,
            admin_port=base + 3,
            secure_client_port=base + 4,
            peer_type="observer" if observer else "participant",
        )


_LIVE_MEMBERS: weakref.WeakSet[ManagedZooKeeper] = weakref.WeakSet()
_LIVE_CLUSTERS: weakref.WeakSet[ZookeeperCluster] = weakref.WeakSet()


def _cleanup_at_exit() -> None:
    for cluster in list(_LIVE_CLUSTERS):
        try:
            cluster.terminate()
        except Exception:  # keep cleaning up the rest
            pass
    for member in list(_LIVE_MEMBERS):
        try:
            member.destroy()
        except Exception:
            pass


atexit.register(_cleanup_at_exit)


def _tail(path: str, num_lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-num_lines:] if num_lines > 0 else []


class ManagedZooKeeper:
    """One ZooKeeper server process in a private working directory."""

    def __init__(
        self,
        install_path: str | None,
        server_info: ServerInfo,
        peers: Sequence[ServerInfo] = (),
        classpath: str | None = None,
        configuration_entries: Iterable[str] = (),
        java_system_properties: Iterable[str] = (),
        jaas_config: str | None = None,
        work_dir: str | None = None,
        install: ZooKeeperInstall | None = None,
    ) -> None:
        self.install = install or find_install(install_path, classpath)
        self.server_info = server_info
        self.peers = tuple(peers)
        self.configuration_entries = tuple(configuration_entries)
        self.java_system_properties = tuple(java_system_properties)
        self.jaas_config = jaas_config
        self.host = HOST
        self._owns_dir = work_dir is None
        self.work_dir = work_dir or tempfile.mkdtemp(prefix=f"kazoo-zk{server_info.server_id}-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None
        self._paused = False
        self._runs = 0
        self._cluster: weakref.ref[ZookeeperCluster] | None = None
        _LIVE_MEMBERS.add(self)

    # ------------------------------------------------------------ attributes
    @property
    def server_id(self) -> int:
        return self.server_info.server_id

    @property
    def client_port(self) -> int:
        return self.server_info.client_port

    @property
    def secure_client_port(self) -> int:
        return self.server_info.secure_client_port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.client_port)

    @property
    def secure_address(self) -> tuple[str, int]:
        return (self.host, self.secure_client_port)

    @property
    def is_observer(self) -> bool:
        return self.server_info.peer_type == "observer"

    @property
    def running(self) -> bool:
        """True while the process is alive (a paused process counts as running)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self.running and self._paused

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def data_dir(self) -> str:
        return os.path.join(self.work_dir, "data")

    @property
    def config_path(self) -> str:
        return os.path.join(self.work_dir, "zoo.cfg")

    @property
    def log_path(self) -> str:
        return os.path.join(self.work_dir, "zookeeper.log")

    @property
    def console_path(self) -> str:
        return os.path.join(self.work_dir, "console.log")

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("running" if self.running else "stopped")
        return (
            f"<ManagedZooKeeper id={self.server_id} {self.host}:{self.client_port} "
            f"pid={self.pid} {state}>"
        )

    # ------------------------------------------------------------ configuration
    def _config_lines(self) -> list[str]:
        info, install = self.server_info, self.install
        modern = install.at_least(3, 5)
        entries: dict[str, str] = {
            "tickTime": str(TICK_TIME_MS),
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": self.data_dir,
            "maxClientCnxns": "0",
        }
        if not self.peers or not modern:
            entries["clientPort"] = str(info.client_port)
            entries["clientPortAddress"] = self.host
        if modern:
            entries.update(
                {
                    "admin.enableServer": "false",
                    "4lw.commands.whitelist": "*",
                    "reconfigEnabled": "true",
                    "extendedTypesEnabled": "true",
                    "localSessionsEnabled": "false",
                    "localSessionsUpgradingEnabled": "false",
                }
            )
        if self.peers and info.peer_type == "observer":
            entries["peerType"] = "observer"
        for peer in self.peers:
            line = f"{self.host}:{peer.leader_port}:{peer.election_port}"
            if peer.peer_type == "observer":
                line += ":observer"
            if modern:
                line += f";{self.host}:{peer.client_port}"
            entries[f"server.{peer.server_id}"] = line
        for entry in self.configuration_entries:
            key, sep, value = entry.partition("=")
            if not sep:
                raise ValueError(f"configuration entry {entry!r} is not key=value")
            entries[key.strip()] = value.strip()
        return [f"{k}={v}" for k, v in entries.items()]

    def _write_config(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        if self.peers:
            with open(os.path.join(self.data_dir, "myid"), "w") as f:
                f.write(f"{self.server_id}\n")
        with open(self.config_path, "w") as f:
            f.write("\n".join(self._config_lines()) + "\n")

    def _logging_args(self) -> list[str]:
        backend = self.install.logging_backend
        if backend == "simple":
            return [
                f"-Dorg.slf4j.simpleLogger.logFile={self.log_path}",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                "-Dorg.slf4j.simpleLogger.showShortLogName=true",
            ]
        if backend == "logback":
            path = os.path.join(self.work_dir, "logback.xml")
            with open(path, "w") as f:
                f.write(_LOGBACK_XML.format(log=self.log_path))
            return [f"-Dlogback.configurationFile={path}"]
        if backend == "log4j":
            path = os.path.join(self.work_dir, "log4j.properties")
            with open(path, "w") as f:
                f.write(_LOG4J_PROPERTIES.format(log=self.log_path))
            return [f"-Dlog4j.configuration=file:{path}"]
        return []

    def command_line(self) -> list[str]:
        """The ``java`` command that runs this member."""
        args = [find_java(), *JVM_OPTIONS, "-cp", self.install.classpath]
        args += [
            "-Dreadonlymode.enabled=true",
            "-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            f"-Dzookeeper.DigestAuthenticationProvider.superDigest={super_digest()}",
            f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_INTERVAL_MS}",
            f"-Dzookeeper.log.dir={self.work_dir}",
            "-Dzookeeper.jmx.log4j.disable=true",
        ]
        if self.jaas_config:
            path = os.path.join(self.work_dir, "jaas.conf")
            with open(path, "w") as f:
                f.write(self.jaas_config)
            args.append(f"-Djava.security.auth.login.config={path}")
        args += self._logging_args()
        args += list(self.java_system_properties)
        args += [MAIN_CLASS, self.config_path]
        return args

    # ------------------------------------------------------------ lifecycle
    def _rotate_logs(self) -> None:
        for path in (self.log_path, self.console_path):
            if os.path.exists(path):
                os.replace(path, f"{path}.{self._runs}")

    def start_process(self) -> None:
        """Start the JVM without waiting for it to serve (no-op when running)."""
        if self.running:
            self.resume()
            return
        os.makedirs(self.work_dir, exist_ok=True)
        if not os.path.exists(self.config_path):
            self._write_config()
        self._rotate_logs()
        self._runs += 1
        self._close_console()
        self._console = open(self.console_path, "ab")  # lives with the process
        self._proc = spawn(self.command_line(), cwd=self.work_dir, stdout=self._console)
        self._paused = False

    def wait_serving(self, timeout: float = START_TIMEOUT, read_only: bool = False) -> None:
        """Wait until the member serves: a real read-write handshake succeeds, or
        with ``read_only`` the server runs in read-only mode."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            if not self.running:
                raise ZooKeeperStartError(
                    f"ZooKeeper server {self.server_id} exited "
                    f"(code {self._proc.returncode if self._proc else None}).\n{self._log_text()}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise ZooKeeperStartError(
                    f"ZooKeeper server {self.server_id} on {self.host}:{self.client_port} "
                    f"did not serve within {timeout:.0f} s (last error: {last_error!r}).\n"
                    f"{self._log_text()}"
                )
            try:
                _wire.check_serving(self.address, min(left, 2.0), read_only)
                return
            except OSError as exc:
                last_error = exc
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def serving(self, timeout: float = 2.0, read_only: bool = False) -> bool:
        """One probe: does this member serve (read-write, or read-only if allowed) now?"""
        if not self.running or self._paused:
            return False
        try:
            _wire.check_serving(self.address, timeout, read_only)
        except OSError:
            return False
        return True

    def run(self, timeout: float = START_TIMEOUT, read_only: bool | None = None) -> None:
        """Start the server (if needed) and wait until it serves.

        ``read_only`` None: accept a read-only server only when the running voting
        members of its cluster, this one included, cannot form a quorum.
        """
        if read_only is None:
            cluster = self._cluster() if self._cluster is not None else None
            read_only = cluster is not None and not cluster.has_quorum(self)
        self.start_process()
        self.wait_serving(timeout, read_only=read_only)

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after 10 s); the data stays."""
        if self._proc is not None:
            stop_process(self._proc)
        self._paused = False
        self._close_console()

    def kill(self) -> None:
        """SIGKILL by PID, as a crash; the data stays."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait(timeout=30)
        self._paused = False
        self._close_console()

    def pause(self, timeout: float = 10.0) -> None:
        """SIGSTOP: the process hangs, its sockets stay open. Returns once every thread of
        the server has stopped (``kill`` returns before that: meanwhile the server may
        still take a connection or answer a request); RuntimeError after ``timeout``."""
        if self._proc is not None and self.running:
            os.kill(self._proc.pid, signal.SIGSTOP)
            self._paused = True
            if not wait_stopped(self._proc.pid, timeout):
                raise RuntimeError(
                    f"ZooKeeper server {self.server_id} (pid {self._proc.pid}) did not stop "
                    f"within {timeout:.0f} s of SIGSTOP"
                )

    def resume(self) -> None:
        """SIGCONT after ``pause()``."""
        if self._proc is not None and self.running and self._paused:
            os.kill(self._proc.pid, signal.SIGCONT)
        self._paused = False

    def reset(self) -> None:
        """Stop, wipe the data and configuration, and start again if it was running."""
        was_running = self.running
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for name in os.listdir(self.work_dir) if os.path.isdir(self.work_dir) else ():
            if name.startswith("zoo.cfg"):
                os.remove(os.path.join(self.work_dir, name))
        if was_running:
            self.run()

    def destroy(self) -> None:
        """Stop and remove the working directory (when this member created it)."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _close_console(self) -> None:
        if self._console is not None:
            self._console.close()
            self._console = None

    # ------------------------------------------------------------ logs
    def get_logs(self, num_lines: int = 100) -> str:
        """The last ``num_lines`` lines of this member's server log (and JVM output)."""
        lines = _tail(self.log_path, num_lines)
        console = _tail(self.console_path, num_lines)
        if console:
            lines += ["--- java stdout/stderr ---", *console]
        return "\n".join(lines)

    def _log_text(self, num_lines: int = 40) -> str:
        return f"--- last log lines of server {self.server_id} ---\n{self.get_logs(num_lines)}"


_LOGBACK_XML = """<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder>
      <pattern>%d{{HH:mm:ss.SSS}} [%thread] %-5level %logger{{36}} - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""

_LOG4J_PROPERTIES = """log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File={log}
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} [%t] %-5p %c{{1}} - %m%n
"""


class ZookeeperCluster:
    """``size`` managed members on loopback; indexable and iterable."""

    def __init__(
        self,
        install_path: str | None = None,
        classpath: str | None = None,
        size: int = 3,
        port_offset: int = 20000,
        observer_start_id: int = -1,
        configuration_entries: Iterable[str] = (),
        java_system_properties: Iterable[str] = (),
        jaas_config: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one member")
        self.install = find_install(install_path, classpath)
        self.size = size
        self.port_offset = port_offset
        self.observer_start_id = observer_start_id
        self.configuration_entries = tuple(configuration_entries)
        self.java_system_properties = tuple(java_system_properties)
        self.jaas_config = jaas_config
        self.work_dir: str | None = None
        self._servers: list[ManagedZooKeeper] = []
        _LIVE_CLUSTERS.add(self)

    def _server_infos(self) -> list[ServerInfo]:
        return [
            ServerInfo.from_base(
                i + 1,
                self.port_offset + BLOCK * i,
                observer=0 < self.observer_start_id <= i + 1,
            )
            for i in range(self.size)
        ]

    def _build(self) -> None:
        if self._servers:
            return
        self.work_dir = tempfile.mkdtemp(prefix="kazoo-zk-cluster-")
        infos = self._server_infos()
        peers = infos if self.size > 1 else []
        for info in infos:
            member = ManagedZooKeeper(
                None,
                info,
                peers=peers,
                configuration_entries=self.configuration_entries,
                java_system_properties=self.java_system_properties,
                jaas_config=self.jaas_config,
                work_dir=os.path.join(self.work_dir, f"server{info.server_id}"),
                install=self.install,
            )
            member._cluster = weakref.ref(self)
            self._servers.append(member)

    # ------------------------------------------------------------ container protocol
    def __getitem__(self, index: int) -> ManagedZooKeeper:
        self._build()
        return self._servers[index]

    def __iter__(self) -> Iterator[ManagedZooKeeper]:
        self._build()
        return iter(list(self._servers))

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<ZookeeperCluster size={self.size} base={self.port_offset} {self._servers}>"

    # ------------------------------------------------------------ quorum helpers
    def has_quorum(self, extra: ManagedZooKeeper | None = None) -> bool:
        """Would the running voting members (plus ``extra``) form a quorum?"""
        self._build()
        voters = [s for s in self._servers if not s.is_observer]
        up = [s for s in voters if s.running or s is extra]
        return len(up) * 2 > len(voters)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start every member that is not running (resume paused ones), then
        wait until each serves read-write."""
        self._build()
        for server in self._servers:
            server.start_process()
        deadline = time.monotonic() + timeout
        for server in self._servers:
            server.wait_serving(max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop every member (the data stays)."""
        for server in self._servers:
            server.stop()

    def terminate(self) -> None:
        """Stop every member and remove all files; ``start()`` builds afresh."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop()
        if self.work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def reset(self) -> None:
        """Stop, wipe all data, and start again."""
        self.terminate()
        self.start()

    def healthy(self, timeout: float = 5.0) -> bool:
        """Every member running, not paused, and answering a read-write handshake."""
        if not self._servers:
            return False
        return all(s.serving(timeout) for s in self._servers)

    def get_logs(self, num_lines: int = 100) -> str:
        """Log tails of every member, one section each."""
        parts = []
        for server in self._servers:
            parts.append(
                f"=== ZooKeeper server {server.server_id} ({server.host}:"
                f"{server.client_port}) ===\n{server.get_logs(num_lines)}"
            )
        return "\n".join(parts)

    @property
    def servers(self) -> str:
        """``"127.0.0.1:<port>,…"`` of the plain client ports."""
        return ",".join(f"{s.host}:{s.client_port}" for s in self)

    @property
    def secure_servers(self) -> str:
        """``"127.0.0.1:<port>,…"`` of the TLS client ports."""
        return ",".join(f"{s.host}:{s.secure_client_port}" for s in self)
