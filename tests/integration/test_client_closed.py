"""Multi-step operations on a client without a session fail at once (API §2.9, §2.1.3)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError

CALLS: dict[str, Callable[[KazooClient], Any]] = {
    "ensure_path": lambda zk: zk.ensure_path_async("/a/b"),
    "create_makepath": lambda zk: zk.create_async("/a/b/c", makepath=True),
    "delete_recursive": lambda zk: zk.delete_async("/a", recursive=True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_never_started_client_refuses_multi_step_ops_at_once(name: str) -> None:
    client = KazooClient("127.0.0.1:1")
    result = CALLS[name](client)
    assert result.ready(), "the refusal must not wait for a worker or a server"
    with pytest.raises(ConnectionClosedError):
        result.get(block=False)
    client.close()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_stopped_client_refuses_multi_step_ops_at_once(
    name: str, make_client: Callable[..., KazooClient]
) -> None:
    client = make_client()
    client.stop()
    result = CALLS[name](client)
    with pytest.raises(ConnectionClosedError):
        result.get(timeout=2)
