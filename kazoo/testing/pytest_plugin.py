"""pytest fixtures on a real ZooKeeper cluster.

Enable with ``-p kazoo.testing.pytest_plugin`` or ``pytest_plugins =
["kazoo.testing.pytest_plugin"]`` in a top-level ``conftest.py``.

* ``zookeeper_cluster`` (session): the global cluster, started; it is
  health-checked (and repaired) again before every test that asks for one of
  these fixtures. Only if that repair has to rebuild the cluster on new ports
  does the object change: ``harness.get_global_cluster()`` always gives the
  current one.
* ``zk_hosts``: ``"127.0.0.1:<port>,…/kazootests<uuid hex>"``, a fresh chroot
  that is deleted recursively after the test.
* ``zk_client``: a started ``KazooClient`` on ``zk_hosts``; stopped and
  closed after the test. Its handler is the one ``KAZOO_TEST_HANDLER`` names
  (``threading``, ``gevent`` or ``eventlet``; see :mod:`kazoo.testing.handlers`).

When such a test fails, the report gets a section with the tail of every
member's server log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from kazoo.testing.common import ZookeeperCluster
from kazoo.testing.handlers import HANDLER_ENV, handler_name, make_handler, monkey_patched
from kazoo.testing.harness import (
    KazooTestHarness,
    create_chroot,
    delete_chroot,
    ensure_global_cluster,
    get_global_cluster,
    global_cluster_logs,
    terminate_global_cluster,
)

if TYPE_CHECKING:
    from kazoo.client import KazooClient

CLIENT_TIMEOUT = 15.0
LOG_LINES = 60
_ZK_FIXTURES = frozenset({"zookeeper_cluster", "zk_hosts", "zk_client"})


@pytest.fixture(scope="session")
def zookeeper_cluster() -> Iterator[ZookeeperCluster]:
    """The process-wide ZooKeeper cluster, started; terminated at the end."""
    yield ensure_global_cluster()
    terminate_global_cluster()


@pytest.fixture(autouse=True)
def _kazoo_zookeeper_health(request: pytest.FixtureRequest) -> None:
    # A previous test may have stopped, killed or paused members (or a
    # KazooTestCase terminated the cluster): repair before the next one.
    if _ZK_FIXTURES.intersection(request.fixturenames):
        ensure_global_cluster()


@pytest.fixture
def zk_hosts(zookeeper_cluster: ZookeeperCluster) -> Iterator[str]:
    """Connection string of the cluster plus a fresh chroot."""
    servers = get_global_cluster().servers  # health-checked by the autouse fixture
    namespace = create_chroot(servers)
    try:
        yield servers + namespace
    finally:
        delete_chroot(servers, namespace)


@pytest.fixture
def zk_client(zk_hosts: str) -> Iterator[KazooClient]:
    """A started ``KazooClient`` in the test's own chroot."""
    from kazoo.client import KazooClient

    client = KazooClient(zk_hosts, timeout=CLIENT_TIMEOUT, handler=make_handler())
    try:
        client.start()
        yield client
    finally:
        try:
            client.stop()
        finally:
            client.close()


def pytest_report_header(config: pytest.Config) -> str:
    patched = monkey_patched()
    how = f"{patched} monkey-patched" if patched else "not monkey-patched"
    return f"kazoo test handler ({HANDLER_ENV}): {handler_name()}, {how}"


def _uses_zookeeper(item: pytest.Item) -> bool:
    if _ZK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if isinstance(getattr(item, "instance", None), KazooTestHarness):
        return True
    return item.get_closest_marker("integration") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call") and _uses_zookeeper(item):
        logs = global_cluster_logs(LOG_LINES)
        if logs:
            report.sections.append(("ZooKeeper server logs", logs))
