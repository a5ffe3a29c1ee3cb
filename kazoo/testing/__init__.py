"""Testing support: real ZooKeeper servers, a harness, pytest fixtures, real faults.

* ``kazoo.testing.common``: ``ManagedZooKeeper`` and ``ZookeeperCluster``.
* ``kazoo.testing.harness``: ``get_global_cluster()``, ``KazooTestHarness``,
  ``KazooTestCase``.
* ``kazoo.testing.pytest_plugin``: fixtures ``zookeeper_cluster``, ``zk_hosts``,
  ``zk_client`` (enable with ``-p kazoo.testing.pytest_plugin``).
* ``kazoo.testing.handlers``: ``KAZOO_TEST_HANDLER`` (``threading``, ``gevent`` or
  ``eventlet``) chooses the handler of the clients those fixtures and the harness make.
* ``expire_session(client)`` / ``drop_connection(client)``: a real server-side
  session expiry / a real dropped TCP connection.

Nothing in the rest of ``kazoo`` imports this package.
"""

from kazoo.testing._faults import FaultInjectionError, drop_connection, expire_session
from kazoo.testing.harness import KazooTestCase, KazooTestHarness

__all__ = [
    "FaultInjectionError",
    "KazooTestCase",
    "KazooTestHarness",
    "drop_connection",
    "expire_session",
]
