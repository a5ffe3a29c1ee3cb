"""Counter against real ZooKeeper: encodings (ASCII repr, Curator int32), type and range
checks, concurrent increments from several clients, asyncio."""

from __future__ import annotations

import struct
import threading
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.counter import AsyncCounter, Counter

pytestmark = pytest.mark.integration

FAST_RETRY = {"max_tries": -1, "delay": 0.005, "backoff": 1.5, "max_delay": 0.05}


def test_counter_ascii_encoding_and_values(zk_client: KazooClient) -> None:
    counter = Counter(zk_client, "/c/int")
    assert counter.pre_value is None and counter.post_value is None
    assert counter.value == 0
    assert zk_client.get("/c/int")[0] == b"", "created on first use, empty means default"
    counter += 5
    assert (counter.pre_value, counter.post_value) == (0, 5)
    assert zk_client.get("/c/int")[0] == b"5"
    counter -= 7
    assert counter.value == -2 and zk_client.get("/c/int")[0] == b"-2"
    assert (counter.pre_value, counter.post_value) == (5, -2)
    same = counter
    counter += 1
    assert counter is same, "+= rebinds to the same object"


def test_counter_reads_other_writers_and_float_default(zk_client: KazooClient) -> None:
    zk_client.create("/c/preset", b"41", makepath=True)
    counter = Counter(zk_client, "/c/preset", default=1)
    assert counter.value == 41
    counter += 1
    assert zk_client.get("/c/preset")[0] == b"42"
    floats = Counter(zk_client, "/c/float", default=0.5)
    assert floats.value == 0.5
    floats += 1.25
    assert floats.value == 1.75 and zk_client.get("/c/float")[0] == b"1.75"


def test_counter_rejects_the_wrong_type(zk_client: KazooClient) -> None:
    ints = Counter(zk_client, "/c/i")
    with pytest.raises(TypeError):
        ints += 1.5
    with pytest.raises(TypeError):
        ints -= "1"
    floats = Counter(zk_client, "/c/f", default=0.0)
    with pytest.raises(TypeError):
        floats += 1
    assert ints.value == 0 and floats.value == 0.0
    with pytest.raises(TypeError):
        Counter(zk_client, "/c/cur", default=0.0, support_curator=True)
    with pytest.raises(ValueError, match="must start with"):
        Counter(zk_client, "c")


def test_counter_curator_encoding_and_int32_overflow(zk_client: KazooClient) -> None:
    counter = Counter(zk_client, "/c/curator", support_curator=True)
    counter += 2**31 - 2
    data, stat = zk_client.get("/c/curator")
    assert data == struct.pack(">i", 2**31 - 2)
    counter += 1
    assert counter.value == 2**31 - 1
    data, stat = zk_client.get("/c/curator")
    with pytest.raises(ValueError, match="int32"):
        counter += 1
    assert zk_client.get("/c/curator") == (data, stat), "the node is untouched"
    assert counter.post_value == 2**31 - 1
    zk_client.set("/c/curator", struct.pack(">i", -(2**31)))
    assert counter.value == -(2**31)
    with pytest.raises(ValueError):
        counter -= 1
    counter += 10
    assert zk_client.get("/c/curator")[0] == b"\x80\x00\x00\x0a"


def test_counter_concurrent_increments_from_several_clients(make_client) -> None:
    clients = [make_client(command_retry=FAST_RETRY) for _ in range(3)]
    per_client = 25
    errors: list[BaseException] = []

    def work(client: KazooClient, step: int) -> None:
        counter = Counter(client, "/c/shared")
        try:
            for _ in range(per_client):
                counter += step
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(client, step), daemon=True)
        for client, step in zip(clients, (1, 10, 100))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads) and not errors
    assert Counter(clients[0], "/c/shared").value == per_client * 111


def test_counter_on_a_stopped_client(make_client) -> None:
    client = make_client()
    client.stop()
    counter = Counter(client, "/c")
    with pytest.raises(ConnectionClosedError):
        counter.value  # noqa: B018
    with pytest.raises(ConnectionClosedError):
        counter += 1


def test_async_counter(aio) -> None:
    async def body(azk: Any) -> None:
        counter = AsyncCounter(azk, "/ac")
        assert await counter.get() == 0
        assert await counter.add(5) is counter
        assert (counter.pre_value, counter.post_value) == (0, 5)
        await counter.add(-2)
        assert await counter.get() == 3
        assert (await azk.get("/ac"))[0] == b"3"
        with pytest.raises(TypeError):
            await counter.add(1.0)
        curator = AsyncCounter(azk, "/acur", support_curator=True)
        await curator.add(2**31 - 1)
        with pytest.raises(ValueError):
            await curator.add(1)
        assert await curator.get() == 2**31 - 1

    aio(body)
