"""Tests of kazoo.testing itself: managed servers, ports, process hygiene, faults.

Everything but the last section works without the client: readiness and mode
are checked with raw handshakes and four-letter words.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable
from unittest import mock

import pytest

from kazoo.testing import KazooTestCase, _wire, harness
from kazoo.testing._install import ZooKeeperNotFoundError, find_install
from kazoo.testing._process import _try_claim, claim_port_base, threads_stopped
from kazoo.testing.common import ManagedZooKeeper, ServerInfo, ZookeeperCluster, ZooKeeperStartError
from kazoo.testing.harness import ClusterConfig, get_global_cluster

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))


def _pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer exists (or is a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll a condition no event can signal (a foreign process exiting), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _mode(member: ManagedZooKeeper) -> str | None:
    return _wire.server_mode(member.address)


@pytest.fixture
def standalone() -> Iterator[ZookeeperCluster]:
    claim = claim_port_base(1)
    cluster = ZookeeperCluster(size=1, port_offset=claim.base)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.terminate()
        claim.release()


@pytest.fixture(scope="module")
def ensemble() -> Iterator[ZookeeperCluster]:
    """A private 3-member ensemble that the tests may hurt."""
    claim = claim_port_base(3)
    cluster = ZookeeperCluster(size=3, port_offset=claim.base)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.terminate()
        claim.release()


@pytest.fixture
def healthy_ensemble(ensemble: ZookeeperCluster) -> ZookeeperCluster:
    ensemble.start()  # repairs what an earlier test left stopped or paused
    return ensemble


# --------------------------------------------------------------------------- wire bits


def test_connect_request_matches_protocol_golden_bytes() -> None:
    expected = bytes.fromhex(
        "0000002d"
        "00000000"
        "0000000000000000"
        "00007530"
        "0000000000000000"
        "00000010"
        "00000000000000000000000000000000"
        "00"
    )
    assert _wire.connect_request(timeout_ms=30000) == expected


def test_connect_response_repr_hides_password() -> None:
    response = _wire.ConnectResponse(4000, 0x1234, b"secret-password!", False)
    assert "secret" not in repr(response)


# --------------------------------------------------------------------------- finding ZooKeeper


def test_finds_debian_install_with_extra_jars() -> None:
    if not os.path.isfile("/usr/share/java/zookeeper.jar"):
        pytest.skip("no Debian zookeeper package here")
    with mock.patch.dict(os.environ, {}, clear=False) as env:
        for name in ("ZOOKEEPER_PATH", "ZOOKEEPER_CLASSPATH", "ZOOKEEPER_VERSION"):
            env.pop(name, None)
        install = find_install()
    jars = install.classpath.split(os.pathsep)
    assert jars[0] == "/usr/share/java/zookeeper.jar"
    for extra in ("netty-codec.jar", "netty-resolver.jar", "slf4j-simple.jar"):
        assert f"/usr/share/java/{extra}" in jars
    assert install.version is not None and install.version >= (3, 5)
    assert install.logging_backend == "simple"


def test_env_version_and_classpath_win() -> None:
    env = {
        "ZOOKEEPER_CLASSPATH": "/x/zookeeper-3.7.1.jar:/x/other.jar",
        "ZOOKEEPER_VERSION": "3.6.4-foo",
    }
    with mock.patch.dict(os.environ, env):
        install = find_install()
    assert install.classpath == env["ZOOKEEPER_CLASSPATH"]
    assert install.version == (3, 6, 4)


def test_nothing_found_names_the_three_variables(tmp_path: object) -> None:
    with mock.patch.dict(os.environ, {"ZOOKEEPER_PATH": str(tmp_path)}):
        with pytest.raises(ZooKeeperNotFoundError) as info:
            find_install()
    message = str(info.value)
    for name in ("ZOOKEEPER_PATH", "ZOOKEEPER_CLASSPATH", "ZOOKEEPER_VERSION"):
        assert name in message


# --------------------------------------------------------------------------- ports


def test_free_ports_are_claimed_and_exclusive() -> None:
    claim = claim_port_base(2)
    try:
        assert 20000 <= claim.base < 32768 and claim.base % 10 == 0
        # The same blocks cannot be claimed again while held (other test runs
        # on this machine use the same lock files).
        assert _try_claim(claim.base, 2) is None
        assert _try_claim(claim.base + 10, 1) is None
    finally:
        claim.release()


def test_port_offset_env_gives_the_fixed_layout() -> None:
    env = {"ZOOKEEPER_PORT_OFFSET": "24000", "ZOOKEEPER_CLUSTER_SIZE": "2"}
    with mock.patch.dict(os.environ, env):
        config = ClusterConfig.from_env()
    assert config.port_offset == 24000 and config.size == 2
    cluster = config.build(config.port_offset)
    try:
        ports = [
            (
                m.client_port,
                m.server_info.election_port,
                m.server_info.leader_port,
                m.server_info.admin_port,
                m.secure_client_port,
            )
            for m in cluster
        ]
        assert ports == [(24000, 24001, 24002, 24003, 24004), (24010, 24011, 24012, 24013, 24014)]
        assert cluster.servers == "127.0.0.1:24000,127.0.0.1:24010"
        assert cluster[1].secure_address == ("127.0.0.1", 24014)
    finally:
        cluster.terminate()


def test_global_cluster_uses_free_ports_without_offset(zookeeper_cluster: ZookeeperCluster) -> None:
    if os.environ.get("ZOOKEEPER_PORT_OFFSET"):
        pytest.skip("ZOOKEEPER_PORT_OFFSET is set")
    for member in get_global_cluster():
        # the ports are ours: the block's lock file is held, nobody else can claim it
        assert _try_claim(member.client_port, 1) is None


def test_global_cluster_is_rebuilt_when_config_changes() -> None:
    # Work on a private global slot so the session's cluster is left alone.
    with mock.patch.object(harness, "_global", None):
        first = get_global_cluster()
        try:
            assert get_global_cluster() is first
            with mock.patch.dict(os.environ, {"ZOOKEEPER_LOCAL_SESSION_RO": "true"}):
                second = get_global_cluster()
                assert second is not first
                assert "localSessionsEnabled=true" in second.configuration_entries
                assert get_global_cluster() is second
            third = get_global_cluster()
            assert third is not second
            assert "localSessionsEnabled=false" in third.configuration_entries
        finally:
            if harness._global is not None:
                harness._global.discard()


# --------------------------------------------------------------------------- the global cluster


def test_global_cluster_members_serve_and_report_mode(zookeeper_cluster: ZookeeperCluster) -> None:
    cluster = get_global_cluster()
    modes = []
    for member in cluster:
        assert member.running and member.pid
        response = _wire.probe(member.address, 5.0)
        assert response.timeout_ms > 0 and not response.read_only
        modes.append(_mode(member))
    if len(cluster) == 1:
        assert modes == ["standalone"]
    else:
        assert sorted(set(modes)) in (["follower", "leader"], ["follower", "leader", "observer"])
        assert modes.count("leader") == 1


def test_get_logs_returns_server_log_text(zookeeper_cluster: ZookeeperCluster) -> None:
    cluster = get_global_cluster()
    text = cluster[0].get_logs(2000)
    assert "NettyServerCnxnFactory" in text
    assert len(cluster[0].get_logs(5).splitlines()) <= 5
    combined = cluster.get_logs(10)
    assert combined.count("=== ZooKeeper server") == len(cluster)


# --------------------------------------------------------------------------- member faults


def test_stop_and_run_member_keeps_data(standalone: ZookeeperCluster) -> None:
    member = standalone[0]
    sock, response = _wire.handshake(member.address, 5.0)  # a session: one transaction
    sock.close()
    zxid_before = _srvr_zxid(member)
    member.stop()
    assert not member.running and member.pid is None
    with pytest.raises(OSError):
        _wire.probe(member.address, 1.0)
    member.run()
    assert member.running
    assert _wire.probe(member.address, 5.0).timeout_ms > 0
    assert _srvr_zxid(member) >= zxid_before > 0


def _srvr_zxid(member: ManagedZooKeeper) -> int:
    text = _wire.four_letter_word(member.address, "srvr")
    line = next(ln for ln in text.splitlines() if ln.startswith("Zxid:"))
    return int(line.split(":", 1)[1].strip(), 16)


def test_kill9_and_restart_member_of_ensemble(healthy_ensemble: ZookeeperCluster) -> None:
    cluster = healthy_ensemble
    victim = next(m for m in cluster if _mode(m) == "leader")
    pid = victim.pid
    assert pid is not None
    victim.kill()
    assert not victim.running and _pid_gone(pid)
    others = [m for m in cluster if m is not victim]
    # the two others elect a new leader and serve read-write again
    for member in others:
        member.wait_serving(30)
    assert sorted(_mode(m) or "" for m in others) == ["follower", "leader"]
    victim.run()
    assert victim.pid not in (None, pid)
    assert _mode(victim) == "follower"


def test_pause_and_resume_member(standalone: ZookeeperCluster) -> None:
    member = standalone[0]
    member.pause()
    try:
        assert member.running and member.paused
        # pause() returns only once every thread has stopped (kill() returns before that)
        assert threads_stopped(member.pid) in (True, None)
        started = time.monotonic()
        with pytest.raises(OSError):
            _wire.probe(member.address, 1.0)  # TCP accepted by the kernel, no answer
        assert time.monotonic() - started < 3
    finally:
        member.resume()
    assert not member.paused
    assert _wire.probe(member.address, 5.0).timeout_ms > 0


def test_member_alone_in_ensemble_serves_read_only(healthy_ensemble: ZookeeperCluster) -> None:
    cluster = healthy_ensemble
    cluster[1].stop()
    cluster[2].stop()
    member = cluster[0]
    member.wait_serving(30, read_only=True)
    assert _wire.four_letter_word(member.address, "isro") == "ro"
    with pytest.raises(OSError):
        _wire.probe(member.address, 2.0, read_only=False)
    cluster[1].run()  # quorum again: run() waits for read-write
    member.wait_serving(30)
    assert not _wire.probe(member.address, 5.0).read_only


def test_start_failure_raises_with_log_tail() -> None:
    claim = claim_port_base(1)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    member = ManagedZooKeeper(None, ServerInfo.from_base(1, claim.base))
    try:
        blocker.bind(("127.0.0.1", claim.base))
        blocker.listen(1)
        with pytest.raises(ZooKeeperStartError) as info:
            member.run(timeout=30)
        assert "last log lines" in str(info.value)
        assert "Address already in use" in str(info.value) or "BindException" in str(info.value)
    finally:
        blocker.close()
        member.destroy()
        claim.release()
    assert not os.path.exists(member.work_dir)


# --------------------------------------------------------------------------- process hygiene


def test_terminate_stops_every_process_and_removes_files() -> None:
    claim = claim_port_base(3)
    cluster = ZookeeperCluster(size=3, port_offset=claim.base)
    try:
        cluster.start()
        pids = [m.pid for m in cluster]
        work_dir = cluster.work_dir
        assert all(pids) and work_dir and os.path.isdir(work_dir)
        cluster[2].pause()  # a paused member must not block termination
        cluster.terminate()
        assert all(_pid_gone(pid) for pid in pids if pid)
        assert not os.path.exists(work_dir)
    finally:
        cluster.terminate()
        claim.release()


_ORPHAN_SCRIPT = """
import time
from kazoo.testing._process import claim_port_base
from kazoo.testing.common import ZookeeperCluster
claim = claim_port_base(1)
cluster = ZookeeperCluster(size=1, port_offset=claim.base)
cluster.start()
print(cluster[0].pid, cluster.work_dir, flush=True)
time.sleep(120)
"""


def test_servers_die_with_a_killed_python_process() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux-only")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, env=env, text=True
    )
    work_dir = None
    try:
        result: list[str] = []
        stdout = parent.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        assert result and result[0], "the child did not start its server"
        pid_text, work_dir = result[0].split()
        java_pid = int(pid_text)
        assert not _pid_gone(java_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _wait_for(lambda: _pid_gone(java_pid), 10), "java outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout:
            parent.stdout.close()
        if work_dir:
            import shutil

            shutil.rmtree(work_dir, ignore_errors=True)


# ------------------------------------------------------------------- real faults on a client


class _StateLog:
    """Listener that records states and signals when ``final`` follows ``first``."""

    def __init__(self, first: str, final: str) -> None:
        self.states: list[str] = []
        self.first, self.final = first, final
        self.done = threading.Event()

    def __call__(self, state: Any) -> None:
        self.states.append(str(state))
        if self.first in self.states and str(state) == self.final:
            self.done.set()


def test_expire_session_ends_the_session_on_the_server(zk_hosts: str) -> None:
    from kazoo.client import KazooClient
    from kazoo.testing import expire_session
    from kazoo.testing.handlers import make_handler

    a = KazooClient(zk_hosts, timeout=10, handler=make_handler())
    b = KazooClient(zk_hosts, timeout=10, handler=make_handler())
    log = _StateLog("LOST", "CONNECTED")
    a.add_listener(log)
    try:
        a.start()
        b.start()
        a.create("/eph", b"a", ephemeral=True)
        old_session = a.client_id[0]
        b.sync("/")  # b's member may not have applied a's create yet
        stat = b.exists("/eph")
        assert stat is not None and stat.ephemeralOwner == old_session

        expire_session(a, timeout=20)

        b.sync("/")
        assert b.exists("/eph") is None  # the server really ended the session
        assert a.client_id is not None and a.client_id[0] != old_session
        assert log.done.wait(5), log.states  # LOST, then CONNECTED
        assert a.exists("/eph") is None
    finally:
        for client in (a, b):
            client.stop()
            client.close()


def test_drop_connection_resumes_the_same_session(zk_client: Any) -> None:
    from kazoo.testing import drop_connection

    log = _StateLog("SUSPENDED", "CONNECTED")
    zk_client.add_listener(log)
    zk_client.create("/eph", b"x", ephemeral=True)
    session = zk_client.client_id[0]
    drop_connection(zk_client, timeout=20)
    assert log.done.wait(5), log.states
    assert "LOST" not in log.states
    assert zk_client.client_id[0] == session
    assert zk_client.exists("/eph") is not None


class TestKazooTestCase(KazooTestCase):
    """The unittest harness: a client in a fresh chroot, tracked clients, real faults."""

    def test_client_runs_in_a_fresh_chroot(self) -> None:
        assert self.client is not None and self.client.connected
        assert self.hosts is not None and self.hosts.startswith(self.servers + "/kazootests")
        self.client.create("/node", b"x")
        outside = self._get_nonchroot_client()
        outside.start()
        namespace = self.hosts[len(self.servers) :]
        assert outside.get(namespace + "/node")[0] == b"x"

    def test_lose_connection_then_expire_session(self) -> None:
        assert self.client is not None
        session = self.client.client_id[0]
        self.lose_connection(threading.Event)
        assert self.client.client_id[0] == session
        self.expire_session(threading.Event)
        assert self.client.client_id[0] != session

    def test_teardown_stops_clients_and_deletes_the_chroot(self) -> None:
        extra = self._get_client()
        extra.start()
        assert self.hosts is not None
        namespace = self.hosts[len(self.servers) :]
        self.teardown_zookeeper()
        assert self.client is None and not extra.connected
        checker = self._get_nonchroot_client()
        checker.start()
        assert checker.exists(namespace) is None
        self.teardown_zookeeper()  # idempotent; tearDown calls it once more
