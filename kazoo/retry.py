"""Retrying calls that fail because of connection trouble.

:class:`KazooRetry` calls a function again, with jittered exponential backoff, while it
raises one of the retryable exceptions (:data:`RETRY_EXCEPTIONS`, plus
:data:`EXPIRED_EXCEPTIONS` when ``ignore_expire``). :class:`~kazoo.exceptions.ConnectionClosedError`
is never retried, although it subclasses :class:`~kazoo.exceptions.SessionExpiredError`.

Besides ``__call__`` the class offers three internal helpers for callers that run their own
loop (the client's reconnect loop, the asyncio client):

* :meth:`KazooRetry._begin` -- reset the counters and start the deadline clock;
* :meth:`KazooRetry._next_sleep` -- account one failed attempt and return how long to wait
  before the next one (raises :class:`RetryFailedError` when the policy is used up);
* :meth:`KazooRetry._sleep` -- sleep with ``sleep_func``, polling ``interrupt``;
  :meth:`KazooRetry._sleep_steps` gives the same sleep as pieces for an ``await`` loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    OperationTimeoutError,
    SessionExpiredError,
)

__all__ = [
    "EXPIRED_EXCEPTIONS",
    "RETRY_EXCEPTIONS",
    "ForceRetryError",
    "InterruptedError",
    "KazooRetry",
    "RetryFailedError",
]

T = TypeVar("T")

#: Longest single sleep while an ``interrupt`` callable is being polled.
_INTERRUPT_POLL = 0.1


class ForceRetryError(Exception):
    """Raise inside a retried function to force another attempt."""


class RetryFailedError(KazooException):
    """The retry policy gave up; ``__cause__`` is the last retryable exception."""


class InterruptedError(RetryFailedError):
    """The ``interrupt`` callable asked the retry loop to stop."""


RETRY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    ConnectionLoss,
    OperationTimeoutError,
    ForceRetryError,
)

EXPIRED_EXCEPTIONS: tuple[type[BaseException], ...] = (SessionExpiredError,)


class KazooRetry:
    """A retry policy: how often, how long to wait, and which errors to retry.

    :param max_tries: attempts in total (1 = no retry); ``None`` or a negative number means
        unbounded.
    :param delay: first delay in seconds.
    :param backoff: factor applied to the delay after every sleep.
    :param max_jitter: relative jitter, clamped to ``[0, 1]``; a sleep is
        ``delay * uniform(1 - max_jitter, 1 + max_jitter)``.
    :param max_delay: ceiling for the delay.
    :param ignore_expire: also retry :class:`~kazoo.exceptions.SessionExpiredError`.
    :param sleep_func: how to sleep (the handler's ``sleep_func``).
    :param deadline: seconds from the first attempt after which no further sleep starts.
    :param interrupt: a callable polled at least every 0.1 s while sleeping; when it returns
        true the call raises :class:`InterruptedError`.
    """

    #: Monotonic clock used for ``deadline`` (tests replace it on the instance).
    _clock: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment]

    def __init__(
        self,
        max_tries: int | None = 1,
        delay: float = 0.1,
        backoff: float = 2,
        max_jitter: float = 0.4,
        max_delay: float = 60.0,
        ignore_expire: bool = True,
        sleep_func: Callable[[float], Any] = time.sleep,
        deadline: float | None = None,
        interrupt: Callable[[], Any] | None = None,
    ) -> None:
        self.max_tries = max_tries
        self.delay = delay
        self.backoff = backoff
        self.max_jitter = min(max(float(max_jitter), 0.0), 1.0)
        self.max_delay = float(max_delay)
        self.deadline = deadline
        self.sleep_func = sleep_func
        self.interrupt = interrupt
        self.retry_exceptions: tuple[type[BaseException], ...] = RETRY_EXCEPTIONS
        if ignore_expire:
            self.retry_exceptions = self.retry_exceptions + EXPIRED_EXCEPTIONS
        self._attempts = 0
        self._cur_delay = delay
        self._cur_stoptime: float | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(max_tries={self.max_tries!r}, delay={self.delay!r}, "
            f"backoff={self.backoff!r}, max_jitter={self.max_jitter!r}, "
            f"max_delay={self.max_delay!r}, deadline={self.deadline!r})"
        )

    def reset(self) -> None:
        """Forget previous attempts: the next call starts from ``delay`` again."""
        self._attempts = 0
        self._cur_delay = self.delay
        self._cur_stoptime = None

    def copy(self) -> KazooRetry:
        """A policy with the same settings (``retry_exceptions`` included), fresh counters."""
        other = type(self)(
            max_tries=self.max_tries,
            delay=self.delay,
            backoff=self.backoff,
            max_jitter=self.max_jitter,
            max_delay=self.max_delay,
            sleep_func=self.sleep_func,
            deadline=self.deadline,
            interrupt=self.interrupt,
        )
        other.retry_exceptions = self.retry_exceptions
        if "_clock" in self.__dict__:
            other._clock = self._clock
        return other

    def __call__(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func(*args, **kwargs)`` until it returns or raises a non-retryable error.

        :raises RetryFailedError: tries or deadline used up (``__cause__`` is the last error).
        :raises InterruptedError: ``interrupt`` returned true while sleeping.
        """
        self._begin()
        while True:
            try:
                return func(*args, **kwargs)
            except ConnectionClosedError:
                raise
            except self.retry_exceptions as exc:
                self._sleep(self._next_sleep(exc), exc)

    # -- internal helpers, also used by the client's own loops ---------------------------

    def _begin(self) -> None:
        """Reset the counters and start the deadline clock (call before the first attempt)."""
        self.reset()
        if self.deadline is not None:
            self._cur_stoptime = self._clock() + self.deadline

    def _next_sleep(self, cause: BaseException | None = None) -> float:
        """Account one failed attempt; return the seconds to sleep before the next one.

        Advances the delay (``min(sleep * backoff, max_delay)``). Does not sleep.

        :param cause: the error of the failed attempt, chained as ``__cause__``.
        :raises RetryFailedError: ``"Too many retry attempts"`` or ``"Exceeded retry
            deadline"``.
        """
        self._attempts += 1
        max_tries = self.max_tries
        if max_tries is not None and max_tries >= 0 and self._attempts >= max_tries:
            _raise(RetryFailedError("Too many retry attempts"), cause)
        jitter = self.max_jitter
        sleep = self._cur_delay * random.uniform(1.0 - jitter, 1.0 + jitter)
        if self.deadline is not None:
            if self._cur_stoptime is None:
                self._cur_stoptime = self._clock() + self.deadline
            if self._clock() + sleep > self._cur_stoptime:
                _raise(RetryFailedError("Exceeded retry deadline"), cause)
        self._cur_delay = min(sleep * self.backoff, self.max_delay)
        return sleep

    def _sleep(self, seconds: float, cause: BaseException | None = None) -> None:
        """Sleep ``seconds`` with ``sleep_func``; poll ``interrupt`` every 0.1 s at most.

        :raises InterruptedError: when ``interrupt`` returns true (``__cause__`` = ``cause``).
        """
        for chunk in self._sleep_steps(seconds, cause):
            self.sleep_func(chunk)

    def _sleep_steps(self, seconds: float, cause: BaseException | None = None) -> Iterator[float]:
        """The pieces a sleep of ``seconds`` is made of, polling ``interrupt`` before each
        (one piece without ``interrupt``). An asyncio caller awaits each piece itself.

        :raises InterruptedError: when ``interrupt`` returns true (``__cause__`` = ``cause``).
        """
        interrupt = self.interrupt
        if interrupt is None:
            yield seconds
            return
        full, rest = divmod(seconds, _INTERRUPT_POLL)
        chunks = [_INTERRUPT_POLL] * int(full)
        if rest > 1e-9:
            chunks.append(rest)
        for chunk in chunks:
            if interrupt():
                _raise(InterruptedError("Retry interrupted"), cause)
            yield chunk


def _raise(error: RetryFailedError, cause: BaseException | None) -> NoReturn:
    if cause is not None:
        raise error from cause
    raise error
