"""Election on a real ZooKeeper (API §2.10 election, §3.4)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kazoo.protocol.states import KazooState
from kazoo.recipe.election import AsyncElection, Election
from kazoo.recipe.lock import Lock
from kazoo.testing import expire_session
from tests.recipes.helpers import (
    WAIT,
    Background,
    StateLog,
    await_children,
    children,
    wait_children,
)

pytestmark = pytest.mark.integration


class Leader:
    """A leader function that records what it saw and stays in office until told."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self.elected = threading.Event()
        self.leave = threading.Event()
        self.seen: list = []

    def __call__(self, *args, **kwargs) -> str:
        election = self.election
        self.seen.append((election.is_leader, election.fencing_token, args, kwargs))
        self.elected.set()
        assert self.leave.wait(WAIT)
        return "ignored"


def test_run_calls_func_as_leader_and_releases(zk_client) -> None:
    election = Election(zk_client, "/el", "me")
    assert isinstance(election.lock, Lock)
    leader = Leader(election)
    leader.leave.set()
    assert election.run(leader, 1, key="v") is None
    ((is_leader, token, args, kwargs),) = leader.seen
    assert is_leader is True and isinstance(token, int)
    assert args == (1,) and kwargs == {"key": "v"}
    assert not election.is_leader and election.fencing_token is None
    assert children(zk_client, "/el") == []


def test_next_contender_leads_when_the_leader_returns(zk_client, make_client) -> None:
    first, second = Election(zk_client, "/el", "one"), Election(make_client(), "/el", "two")
    lead1, lead2 = Leader(first), Leader(second)
    run1 = Background(first.run, lead1)
    assert lead1.elected.wait(WAIT)
    run2 = Background(second.run, lead2)
    wait_children(zk_client, "/el", lambda names: len(names) == 2)
    assert first.contenders() == ["one", "two"]  # leader first
    assert not lead2.elected.is_set() and not second.is_leader
    lead1.leave.set()
    assert run1.result() is None
    assert lead2.elected.wait(WAIT)
    assert second.contenders() == ["two"]
    lead2.leave.set()
    assert run2.result() is None
    assert lead1.seen[0][1] < lead2.seen[0][1]  # fencing tokens increase


def test_exception_in_func_propagates_and_releases(zk_client) -> None:
    election = Election(zk_client, "/el")

    def boom() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        election.run(boom)
    assert not election.is_leader
    assert children(zk_client, "/el") == []


def test_func_must_be_callable(zk_client) -> None:
    election = Election(zk_client, "/el")
    with pytest.raises(ValueError, match="not callable"):
        election.run("nope")

    async def coroutine_function() -> None:
        pass

    with pytest.raises(TypeError, match="AsyncElection"):
        election.run(coroutine_function)
    assert children(zk_client, "/el") == []


def test_cancel_withdraws_a_waiting_contender(zk_client, make_client) -> None:
    leader_election = Election(zk_client, "/el", "leader")
    leader = Leader(leader_election)
    running = Background(leader_election.run, leader)
    assert leader.elected.wait(WAIT)
    waiting = Election(make_client(), "/el", "waiting")
    called = []
    run = Background(waiting.run, called.append, "never")
    wait_children(zk_client, "/el", lambda names: len(names) == 2)
    waiting.cancel()
    assert run.result() is None  # returns quietly
    assert called == []
    zk_client.sync("/")  # the withdrawal was written through another server
    assert leader_election.contenders() == ["leader"]
    leader.leave.set()
    assert running.result() is None


def test_session_loss_while_leading_is_reported(zk_client, make_client) -> None:
    client = make_client()
    election = Election(client, "/el", "lost")
    states = StateLog()
    election.add_listener(states)
    started, stop = threading.Event(), threading.Event()
    seen_after: list = []

    def lead() -> None:
        started.set()
        states.wait_states(KazooState.LOST)  # the election never interrupts func
        seen_after.append((election.is_leader, election.fencing_token))
        stop.wait(WAIT)

    running = Background(election.run, lead)
    assert started.wait(WAIT)
    assert election.is_leader
    successor = Election(zk_client, "/el", "next")
    elected = threading.Event()
    follower = Background(successor.run, elected.set)
    wait_children(zk_client, "/el", lambda names: len(names) == 2)
    expire_session(client)
    assert states.wait_states(KazooState.LOST)
    assert elected.wait(WAIT)  # the successor leads while `lead` is still running
    assert follower.result() is None
    stop.set()
    assert running.result() is None
    assert seen_after == [(False, None)]
    election.remove_listener(states)


def test_async_election_with_a_coroutine_function(aio) -> None:
    async def body(azk) -> None:
        first, second = AsyncElection(azk, "/ael", "a"), AsyncElection(azk, "/ael", "b")
        leave = asyncio.Event()
        seen = []

        async def lead(tag: str) -> None:
            seen.append((tag, first.is_leader, first.fencing_token))
            await leave.wait()

        task1 = asyncio.ensure_future(first.run(lead, "first"))
        await await_children(azk, "/ael", lambda names: len(names) == 1)
        task2 = asyncio.ensure_future(second.run(seen.append, "plain"))
        await await_children(azk, "/ael", lambda names: len(names) == 2)
        assert await second.contenders() == ["a", "b"]
        task2.cancel()  # cancelling the waiting task removes its node
        with pytest.raises(asyncio.CancelledError):
            await task2
        assert await first.contenders() == ["a"]
        leave.set()
        assert await asyncio.wait_for(task1, WAIT) is None
        assert seen[0][:2] == ("first", True) and isinstance(seen[0][2], int)
        assert await second.run(seen.append, "plain") is None
        assert seen[1:] == ["plain"]
        assert await azk.get_children("/ael") == []

    aio(body)
