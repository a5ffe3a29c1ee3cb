"""Top-level pytest configuration: the kazoo.testing plugin gives every test
directory the ``zookeeper_cluster``, ``zk_hosts`` and ``zk_client`` fixtures."""

pytest_plugins = ["kazoo.testing.pytest_plugin"]
