"""kazoo.retry: KazooRetry (API.md section 2.5). No real sleeping: sleep_func is a recorder."""

from __future__ import annotations

import builtins
import math
from typing import Any, Callable
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.retry import (
    EXPIRED_EXCEPTIONS,
    RETRY_EXCEPTIONS,
    ForceRetryError,
    InterruptedError,
    KazooRetry,
    RetryFailedError,
)


class FakeClock:
    """A monotonic clock that only moves when the fake sleep says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, exc_factory: Callable[[], BaseException] = ConnectionLoss, result=None):
    """A function that raises ``times`` times, then returns ``result``; records the errors."""
    raised: list[BaseException] = []

    def func(*args: Any, **kwargs: Any) -> Any:
        if len(raised) < times:
            exc = exc_factory()
            raised.append(exc)
            raise exc
        return (result, args, kwargs)

    func.raised = raised  # type: ignore[attr-defined]
    return func


def make(clock: FakeClock | None = None, **kwargs: Any) -> KazooRetry:
    clock = clock or FakeClock()
    retry = KazooRetry(sleep_func=clock.sleep, **kwargs)
    retry._clock = clock
    return retry


def test_defaults_and_attributes() -> None:
    retry = KazooRetry()
    assert retry.max_tries == 1
    assert retry.delay == 0.1
    assert retry.backoff == 2
    assert retry.max_jitter == 0.4
    assert retry.max_delay == 60.0
    assert retry.deadline is None
    assert retry.interrupt is None
    assert retry.sleep_func is __import__("time").sleep
    assert retry.retry_exceptions == RETRY_EXCEPTIONS + EXPIRED_EXCEPTIONS


def test_exception_constants_and_hierarchy() -> None:
    assert RETRY_EXCEPTIONS == (ConnectionLoss, OperationTimeoutError, ForceRetryError)
    assert EXPIRED_EXCEPTIONS == (SessionExpiredError,)
    assert issubclass(ForceRetryError, Exception)
    assert not issubclass(ForceRetryError, KazooException)
    assert issubclass(RetryFailedError, KazooException)
    assert issubclass(InterruptedError, RetryFailedError)
    assert InterruptedError.__module__ == "kazoo.retry"
    assert not issubclass(builtins.InterruptedError, KazooException)


def test_success_first_try_does_not_sleep() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=3)
    assert retry(lambda a, b=0: a + b, 1, b=2) == 3
    assert clock.sleeps == []


def test_retries_until_success_passing_arguments() -> None:
    clock = FakeClock()
    func = failing(2, result="ok")
    assert make(clock, max_tries=3)(func, 1, key="v") == ("ok", (1,), {"key": "v"})
    assert len(clock.sleeps) == 2


def test_max_tries_counts_attempts_and_chains_the_last_error() -> None:
    clock = FakeClock()
    func = failing(100)
    with pytest.raises(RetryFailedError, match="Too many retry attempts") as info:
        make(clock, max_tries=3)(func)
    assert len(func.raised) == 3
    assert len(clock.sleeps) == 2
    assert info.value.__cause__ is func.raised[-1]


def test_max_tries_one_means_no_retry() -> None:
    clock = FakeClock()
    func = failing(100)
    with pytest.raises(RetryFailedError):
        make(clock)(func)
    assert len(func.raised) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("max_tries", [None, -1])
def test_unbounded_tries(max_tries: int | None) -> None:
    clock = FakeClock()
    func = failing(200, result=7)
    assert make(clock, max_tries=max_tries, max_delay=1.0)(func)[0] == 7
    assert len(clock.sleeps) == 200


@pytest.mark.parametrize(
    "exc_type", [ConnectionLoss, OperationTimeoutError, ForceRetryError, SessionExpiredError]
)
def test_retryable_exceptions(exc_type: type[BaseException]) -> None:
    assert make(max_tries=2)(failing(1, exc_type, result=1))[0] == 1


@pytest.mark.parametrize("exc_type", [NoNodeError, ValueError, KeyError])
def test_other_exceptions_propagate_at_once(exc_type: type[BaseException]) -> None:
    clock = FakeClock()
    func = failing(1, exc_type)
    with pytest.raises(exc_type):
        make(clock, max_tries=5)(func)
    assert len(func.raised) == 1
    assert clock.sleeps == []


def test_connection_closed_is_never_retried() -> None:
    clock = FakeClock()
    func = failing(1, ConnectionClosedError)
    retry = make(clock, max_tries=None, ignore_expire=True)
    assert issubclass(ConnectionClosedError, retry.retry_exceptions)
    with pytest.raises(ConnectionClosedError):
        retry(func)
    assert clock.sleeps == []


def test_ignore_expire_false_does_not_retry_expiry() -> None:
    retry = make(max_tries=5, ignore_expire=False)
    assert retry.retry_exceptions == RETRY_EXCEPTIONS
    func = failing(1, SessionExpiredError)
    with pytest.raises(SessionExpiredError):
        retry(func)
    assert len(func.raised) == 1


def test_backoff_without_jitter_is_exponential_and_capped() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=7, delay=0.1, backoff=2, max_jitter=0, max_delay=0.5)
    with pytest.raises(RetryFailedError):
        retry(failing(100))
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5])


def test_jitter_uses_uniform_between_bounds_and_next_delay_follows_the_sleep() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=4, delay=1.0, backoff=3, max_jitter=0.25, max_delay=100)
    with mock.patch("kazoo.retry.random.uniform", side_effect=[1.25, 0.75, 1.0]) as uniform:
        with pytest.raises(RetryFailedError):
            retry(failing(100))
    assert uniform.call_args_list == [mock.call(0.75, 1.25)] * 3
    # sleep = delay * factor; next delay = min(sleep * backoff, max_delay)
    assert clock.sleeps == pytest.approx([1.25, 1.25 * 3 * 0.75, 1.25 * 3 * 0.75 * 3 * 1.0])


@pytest.mark.parametrize(("given_jitter", "clamped"), [(5, 1.0), (-1, 0.0), (0.3, 0.3)])
def test_max_jitter_is_clamped(given_jitter: float, clamped: float) -> None:
    assert KazooRetry(max_jitter=given_jitter).max_jitter == clamped


@given(
    delay=st.floats(0.001, 10),
    backoff=st.floats(1, 5),
    jitter=st.floats(0, 1),
    max_delay=st.floats(0.001, 100),
    tries=st.integers(2, 12),
)
def test_sleeps_follow_the_jittered_recurrence(
    delay: float, backoff: float, jitter: float, max_delay: float, tries: int
) -> None:
    clock = FakeClock()
    retry = make(
        clock, max_tries=tries, delay=delay, backoff=backoff, max_jitter=jitter, max_delay=max_delay
    )
    with pytest.raises(RetryFailedError):
        retry(failing(100))
    assert len(clock.sleeps) == tries - 1
    current = delay
    for slept in clock.sleeps:
        lo, hi = current * (1 - jitter), current * (1 + jitter)
        assert lo - 1e-9 <= slept <= hi + 1e-9
        current = min(slept * backoff, max_delay)


def test_deadline_stops_before_a_sleep_that_would_pass_it() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=None, delay=0.3, backoff=1, max_jitter=0, deadline=1.0)
    func = failing(100)
    with pytest.raises(RetryFailedError, match="Exceeded retry deadline") as info:
        retry(func)
    assert clock.sleeps == pytest.approx([0.3, 0.3, 0.3])
    assert len(func.raised) == 4
    assert info.value.__cause__ is func.raised[-1]


def test_deadline_counts_time_spent_in_attempts() -> None:
    clock = FakeClock()

    def slow_failure() -> None:
        clock.now += 0.6
        raise ConnectionLoss()

    retry = make(clock, max_tries=None, delay=0.1, backoff=1, max_jitter=0, deadline=1.0)
    with pytest.raises(RetryFailedError, match="deadline"):
        retry(slow_failure)
    assert clock.sleeps == pytest.approx([0.1])


def test_interrupt_is_polled_in_chunks_of_at_most_a_tenth() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=2, delay=0.35, max_jitter=0, interrupt=lambda: False)
    assert retry(failing(1, result=1))[0] == 1
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1, 0.05])
    assert all(chunk <= 0.1 + 1e-12 for chunk in clock.sleeps)


def test_interrupt_raises_interrupted_error_with_cause() -> None:
    clock = FakeClock()
    polls: list[int] = []

    def interrupt() -> bool:
        polls.append(1)
        return len(polls) >= 3

    func = failing(100)
    retry = make(clock, max_tries=None, delay=1.0, max_jitter=0, interrupt=interrupt)
    with pytest.raises(InterruptedError) as info:
        retry(func)
    assert isinstance(info.value, RetryFailedError)
    assert info.value.__cause__ is func.raised[-1]
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    assert len(func.raised) == 1


def test_call_resets_counters_each_time() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=3, max_jitter=0)
    for _ in range(3):
        with pytest.raises(RetryFailedError):
            retry(failing(100))
    assert clock.sleeps == pytest.approx([0.1, 0.2] * 3)


def test_reset_restores_the_initial_delay() -> None:
    retry = make(max_tries=None, delay=0.5, max_jitter=0)
    assert retry._next_sleep() == pytest.approx(0.5)
    assert retry._next_sleep() == pytest.approx(1.0)
    retry.reset()
    assert retry._next_sleep() == pytest.approx(0.5)


def test_copy_keeps_settings_and_custom_exceptions_with_fresh_counters() -> None:
    clock = FakeClock()

    def interrupt() -> bool:
        return False

    retry = make(
        clock,
        max_tries=4,
        delay=0.2,
        backoff=3,
        max_jitter=0.1,
        max_delay=9.0,
        deadline=30,
        interrupt=interrupt,
    )
    retry.retry_exceptions = (KeyError,)
    retry._next_sleep()
    copied = retry.copy()
    assert copied is not retry
    for attr in (
        "max_tries",
        "delay",
        "backoff",
        "max_jitter",
        "max_delay",
        "deadline",
        "sleep_func",
        "interrupt",
        "retry_exceptions",
    ):
        assert getattr(copied, attr) == getattr(retry, attr), attr
    assert copied._attempts == 0
    assert copied._cur_delay == 0.2
    assert copied(failing(2, KeyError, result=5))[0] == 5


def test_next_sleep_helper_for_driver_loops() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=3, delay=1.0, backoff=2, max_jitter=0, max_delay=1.5)
    retry._begin()
    assert retry._next_sleep() == pytest.approx(1.0)
    assert retry._next_sleep() == pytest.approx(1.5)  # capped by max_delay
    cause = ConnectionLoss()
    with pytest.raises(RetryFailedError, match="Too many") as info:
        retry._next_sleep(cause)
    assert info.value.__cause__ is cause
    assert clock.sleeps == []  # the helper never sleeps


def test_next_sleep_without_cause_keeps_context_visible() -> None:
    retry = make(max_tries=1)
    with pytest.raises(RetryFailedError) as info:
        retry._next_sleep()
    assert info.value.__cause__ is None
    assert not info.value.__suppress_context__


def test_next_sleep_respects_deadline_from_begin() -> None:
    clock = FakeClock()
    retry = make(clock, max_tries=None, delay=1.0, backoff=1, max_jitter=0, deadline=2.5)
    retry._begin()
    assert retry._next_sleep() == 1.0
    clock.now += 1.0
    assert retry._next_sleep() == 1.0
    clock.now += 1.0
    with pytest.raises(RetryFailedError, match="deadline"):
        retry._next_sleep()


def test_sleep_helper_without_interrupt_sleeps_once() -> None:
    clock = FakeClock()
    make(clock)._sleep(0.75)
    assert clock.sleeps == [0.75]


def test_repr_shows_settings() -> None:
    text = repr(KazooRetry(max_tries=3, delay=0.5))
    assert "max_tries=3" in text and "delay=0.5" in text


def test_large_sleep_chunk_count_is_exact() -> None:
    clock = FakeClock()
    make(clock, interrupt=lambda: False)._sleep(1.0)
    assert math.isclose(sum(clock.sleeps), 1.0)
    assert len(clock.sleeps) == 10
