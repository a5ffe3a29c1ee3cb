"""``await`` on the async results of the run's handler (API.md §3.5, last paragraph), from an
asyncio loop in the test's own thread: under gevent or eventlet monkey-patching that loop
and the client's I/O share one OS thread and the loop must not block it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

pytestmark = pytest.mark.integration

WAIT = 15.0


def test_await_operations_of_the_run_handler(zk_client: KazooClient) -> None:
    zk_client.create("/x", b"1")

    async def main() -> tuple[Any, ...]:
        ticks = [0]

        async def ticker() -> None:
            while True:
                ticks[0] += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        stat = await asyncio.wait_for(zk_client.exists_async("/x"), WAIT)
        data, _ = await zk_client.get_async("/x")
        created = await zk_client.create_async("/y/z", b"2", makepath=True)
        with pytest.raises(NoNodeError):
            await zk_client.get_async("/missing")
        task.cancel()
        return stat, data, created, ticks[0]

    stat, data, created, ticks = asyncio.run(main())
    assert stat.version == 0 and data == b"1" and created == "/y/z"
    assert ticks > 0
    assert zk_client.get("/y/z")[0] == b"2"
