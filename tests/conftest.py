"""Top-level pytest configuration: the kazoo.testing plugin gives every test
directory the ``zookeeper_cluster``, ``zk_hosts`` and ``zk_client`` fixtures; the
fixtures below are shared by the blocking and the asyncio integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["kazoo.testing.pytest_plugin"]


@pytest.fixture
def chroot(zk_hosts: str) -> str:
    """The chroot of this test's ``zk_hosts``."""
    return zk_hosts[zk_hosts.index("/") :]


@pytest.fixture
def servers(zk_hosts: str) -> str:
    """``zk_hosts`` without its chroot."""
    return zk_hosts[: zk_hosts.index("/")]


@pytest.fixture
def cluster_guard(zookeeper_cluster: Any) -> Iterator[Any]:
    """The cluster; every member a test paused, stopped or killed is brought back
    (and waited for) afterwards, even when the test fails."""
    yield zookeeper_cluster
    for member in zookeeper_cluster:
        if member.paused:
            member.resume()
    for member in zookeeper_cluster:
        if not member.running:
            member.run()
    for member in zookeeper_cluster:
        member.wait_serving(60.0)
