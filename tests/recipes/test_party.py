"""Party and ShallowParty against real ZooKeeper: layouts, membership, idempotent join,
session expiry, asyncio."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from kazoo.recipe.party import AsyncParty, AsyncShallowParty, Party, ShallowParty
from kazoo.testing import expire_session

pytestmark = pytest.mark.integration


def test_party_layout_and_membership(zk_client: KazooClient, make_client) -> None:
    party = Party(zk_client, "/p", "alice")
    assert list(party) == [] and len(party) == 0 and party.participating is False
    party.join()
    assert party.participating is True
    [name] = zk_client.get_children("/p")
    assert re.fullmatch(r"[0-9a-f]{32}__party__", name)
    data, stat = zk_client.get(f"/p/{name}")
    assert data == b"alice" and stat.ephemeralOwner == zk_client.client_id[0]
    party.join()  # idempotent
    assert zk_client.get_children("/p") == [name]
    bob = Party(make_client(), "/p", "bob")
    bob.join()
    zk_client.create("/p/not-a-member", b"x")
    assert sorted(party) == ["alice", "bob"]
    assert len(party) == 2
    assert bob.leave() is True and bob.participating is False
    assert bob.leave() is False
    assert list(party) == ["alice"]
    assert party.leave() is True
    assert len(party) == 0


def test_shallow_party_layout(zk_client: KazooClient, make_client) -> None:
    party = ShallowParty(zk_client, "/sp", "host-1:80")
    party.join()
    [name] = zk_client.get_children("/sp")
    assert re.fullmatch(r"[0-9a-f]{32}-host-1:80", name)
    data, stat = zk_client.get(f"/sp/{name}")
    assert data == b"" and stat.ephemeralOwner == zk_client.client_id[0]
    other = ShallowParty(make_client(), "/sp")
    other.join()
    assert sorted(party) == ["", "host-1:80"]
    assert len(other) == 2
    assert party.leave() is True
    assert list(other) == [""]
    with pytest.raises(ValueError, match="'/'"):
        ShallowParty(zk_client, "/sp", "a/b")


def test_participating_false_on_lost_and_join_again(zk_client: KazooClient) -> None:
    parties = [Party(zk_client, "/p", "deep"), ShallowParty(zk_client, "/sp", "flat")]
    for party in parties:
        party.join()
    expire_session(zk_client)
    for party in parties:
        assert party.participating is False
        assert len(party) == 0, "the member node went with the session"
        party.join()
        assert party.participating is True
    assert list(parties[0]) == ["deep"] and list(parties[1]) == ["flat"]
    _data, stat = zk_client.get(parties[0].create_path)
    assert stat.ephemeralOwner == zk_client.client_id[0]


def test_party_on_a_stopped_client(make_client) -> None:
    client = make_client()
    party = Party(client, "/p", "x")
    party.join()
    client.stop()
    assert party.participating is False
    for call in (party.join, party.leave, lambda: len(party), lambda: list(party)):
        with pytest.raises(ConnectionClosedError):
            call()


def test_async_party(aio, make_client) -> None:
    observer = make_client()

    async def body(azk: Any) -> None:
        party = AsyncParty(azk, "/ap", "one")
        shallow = AsyncShallowParty(azk, "/asp", "two")
        await party.join()
        await shallow.join()
        assert [member async for member in party] == ["one"]
        assert [member async for member in shallow] == ["two"]
        assert await party.count() == 1 and await shallow.count() == 1
        assert party.participating and shallow.participating
        assert await party.leave() is True and await shallow.leave() is True
        assert await party.count() == 0 and not party.participating

    aio(body)
    assert observer.get_children("/ap") == []
