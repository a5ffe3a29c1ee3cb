"""The connection policy shared by both drivers (kazoo.handlers._policy), and the asyncio
client's callback runner. No sockets."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from kazoo._aio_support import CallbackRunner
from kazoo.handlers import _policy
from kazoo.protocol import serialization as ser
from kazoo.protocol.session import EV_RESULT, EV_STATE, EV_WATCH, Pending, Session
from kazoo.protocol.states import KeeperState
from kazoo.protocol.watches import WatchKind
from kazoo.retry import KazooRetry

A, B, C = ("10.0.0.1", 2181), ("10.0.0.2", 2181), ("::1", 2181)


def _info(address: tuple[str, int]) -> tuple[Any, ...]:
    return (2, 1, 6, "", address)


def test_add_addresses_keeps_the_first_of_each_address() -> None:
    out: list[tuple[str, int]] = [A]
    _policy.add_addresses(out, [_info(A), _info(B), _info(B), (10, 1, 6, "", ("::1", 2181, 0, 0))])
    assert out == [A, B, C]


def test_numeric_address() -> None:
    assert _policy.numeric_address("127.0.0.1", 1) == ("127.0.0.1", 1)
    assert _policy.numeric_address("::1", 2) == ("::1", 2)
    assert _policy.numeric_address("localhost", 3) is None


def test_order_addresses_puts_the_read_write_server_first() -> None:
    assert _policy.order_addresses([A, B, C], False, None) == [A, B, C]
    assert _policy.order_addresses([A, B, C], False, C) == [C, A, B]
    assert _policy.order_addresses([A, B], False, C) == [A, B]  # gone from DNS: ignored
    random.seed(7)
    orders = {tuple(_policy.order_addresses([A, B, C], True, B)) for _ in range(30)}
    assert all(order[0] == B for order in orders) and len(orders) == 2


def test_connect_timeouts_share_the_session_timeout() -> None:
    assert _policy.connect_timeouts(9.0, 3) == (3.0, 2.0)
    assert _policy.connect_timeouts(3.0, 3) == (1.0, 1.0)
    assert _policy.connect_timeouts(3.0, 0) == (3.0, 2.0)


def test_backoff_steps_a_fresh_copy_until_the_policy_is_used_up() -> None:
    policy = KazooRetry(max_tries=3, delay=1.0, backoff=2, max_jitter=0.0)
    backoff = _policy.Backoff(policy)
    assert [backoff.next_sleep(), backoff.next_sleep(), backoff.next_sleep()] == [1.0, 2.0, None]
    backoff.reset()
    assert backoff.next_sleep() == 1.0
    assert policy._attempts == 0  # the client's own policy is never consumed


def test_probe_schedule_doubles_up_to_the_cap() -> None:
    schedule = _policy.ProbeSchedule(100.0)
    assert not schedule.due(100.4) and schedule.due(100.5)
    waits = []
    now = 100.5
    for _ in range(10):
        schedule.advance(now)
        waits.append(schedule.next_at - now)
        now = schedule.next_at
    assert 1.0 <= waits[0] <= 1.0 + _policy.PROBE_JITTER
    assert _policy.PROBE_MAX <= waits[-1] <= _policy.PROBE_MAX + _policy.PROBE_JITTER
    assert _policy.probe_targets([A, B, C], B) == [A, C]
    assert _policy.is_read_write("rw\n") and not _policy.is_read_write("ro")


def test_deliver_maps_each_event_kind_in_order() -> None:
    session = Session(timeout_ms=10_000)
    seen: list[Any] = []
    session.events = [
        (EV_RESULT, "h1", 1, None),
        (EV_RESULT, None, 2, None),  # nobody waits: skipped
        (EV_WATCH, "w", "event"),
        (EV_STATE, KeeperState.CONNECTED),
        (EV_RESULT, "h2", None, KeyError("x")),
    ]
    _policy.deliver(
        session,
        lambda handle, value, exc: seen.append(("result", handle, value, type(exc))),
        lambda watcher, event: seen.append(("watch", watcher, event)),
        lambda state: seen.append(("state", state)),
    )
    assert seen == [
        ("result", "h1", 1, type(None)),
        ("watch", "w", "event"),
        ("state", KeeperState.CONNECTED),
        ("result", "h2", None, KeyError),
    ]
    assert session.events == []


def test_release_watcher_removes_the_server_watch_only_for_the_last_one() -> None:
    session = Session(timeout_ms=10_000)
    mine, other = object(), object()
    session.watches.add(WatchKind.DATA, "/a", mine)
    session.watches.add(WatchKind.EXIST, "/a", other)
    session.watches.add(WatchKind.CHILD, "/a", mine)
    kinds = (WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD)
    assert _policy.release_watcher(session, mine, "/a", kinds) == [1]  # other still watches data
    assert _policy.release_watcher(session, other, "/a", kinds) == [2]
    assert _policy.release_watcher(session, other, "/a", kinds) == []  # nothing left to release
    assert _policy.path_unwatched(session, "/a")


def test_release_watcher_keeps_a_watch_that_a_request_in_flight_is_arming() -> None:
    session = Session(timeout_ms=10_000)
    mine = object()
    session.watches.add(WatchKind.DATA, "/a", mine)
    arming = Pending(ser.GetData("/a", True), None, None, (object(), WatchKind.DATA, None))
    session.inflight.append(arming)
    assert _policy.release_watcher(session, mine, "/a", (WatchKind.DATA,)) == []
    assert not _policy.path_unwatched(session, "/a")
    session.inflight.clear()
    session.watches.add(WatchKind.PERSISTENT_RECURSIVE, "/a", mine)
    assert _policy.release_watcher(session, mine, "/a", (WatchKind.PERSISTENT_RECURSIVE,)) == [5]


# -- the asyncio callback runner -----------------------------------------------------------------


def test_callback_runner_runs_plain_and_coroutine_callbacks_in_order() -> None:
    log = logging.getLogger("test.runner")

    async def main() -> list[Any]:
        runner = CallbackRunner(log)
        order: list[Any] = []
        gate = asyncio.Event()

        async def slow(tag: str) -> None:
            order.append(f"{tag}-start")
            await gate.wait()
            order.append(f"{tag}-end")

        def broken(_tag: str) -> None:
            raise RuntimeError("boom")

        runner.put(slow, "a")
        runner.put(broken, "b")
        runner.put(order.append, "c")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert order == ["a-start"]  # the slow one holds the rest back
        gate.set()
        assert await runner.drain(5.0)
        assert runner._task is None  # idle: no task left behind
        runner.put(order.append, "d")
        assert await runner.drain(5.0)
        return order

    assert asyncio.run(main()) == ["a-start", "a-end", "c", "d"]


def test_callback_runner_drain_gives_up_on_a_stuck_callback() -> None:
    async def main() -> tuple[bool, list[str]]:
        runner = CallbackRunner(logging.getLogger("test.runner"))
        ran: list[str] = []

        async def stuck() -> None:
            await asyncio.Event().wait()

        runner.put(stuck)
        runner.put(ran.append, "never")
        drained = await runner.drain(0.05)
        return drained, ran

    drained, ran = asyncio.run(main())
    assert drained is False and ran == []


@pytest.mark.parametrize("seconds", [0.0, 0.25])
def test_retry_sleep_steps_poll_interrupt(seconds: float) -> None:
    polls: list[int] = []
    policy = KazooRetry(interrupt=lambda: polls.append(1) and False)
    steps = list(policy._sleep_steps(seconds))
    assert sum(steps) == pytest.approx(seconds)
    assert len(polls) == len(steps)
    assert list(KazooRetry()._sleep_steps(seconds)) == [seconds]
