"""Leader election on a ``Lock`` (API §2.10, §3.4).

``Election(client, path, identifier=None)``: the leader is whoever holds the lock at
``path`` (attribute ``lock``). ``run(func, *args, **kwargs)`` waits to be elected, calls
``func`` and releases when it returns or raises. Leadership is tracked like the lock:
``is_leader`` and ``fencing_token`` follow the session, and listeners hear SUSPENDED,
CONNECTED (validated) and LOST while leading; ``func`` is never interrupted -- stopping when
told LOST is its job.

``AsyncElection`` is the asyncio flavour; its ``run`` also accepts a coroutine function.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from kazoo.exceptions import CancelledError
from kazoo.protocol.states import KazooState
from kazoo.recipe._lockbase import Steps
from kazoo.recipe._runtime import Async, Blocking, Call, op
from kazoo.recipe.lock import AsyncLock, Lock

__all__ = ["AsyncElection", "Election"]


class _ElectionCore:
    """The election algorithm; combined with :class:`Blocking` or :class:`Async`, and
    ``_lock_class`` (the Lock class of the same flavour)."""

    _lock_class: Any
    is_async: bool

    def __init__(self, client: Any, path: str, identifier: Any = None) -> None:
        self._check_client(client)  # type: ignore[attr-defined]
        self.client = client
        self.path = path
        self.lock = self._lock_class(client, path, identifier)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path!r} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        """``True`` while this contender holds the lock (``False`` again on LOST)."""
        return bool(self.lock.is_acquired)

    @property
    def fencing_token(self) -> int | None:
        """The token of the lock while leader, else ``None``."""
        token: int | None = self.lock.fencing_token
        return token

    def add_listener(self, func: Callable[[KazooState], Any]) -> None:
        """While leader, call ``func(state)`` at SUSPENDED, CONNECTED and LOST (§3.4)."""
        self.lock.add_listener(func)

    def remove_listener(self, func: Callable[[KazooState], Any]) -> None:
        self.lock.remove_listener(func)

    def cancel(self) -> None:
        """Withdraw a waiting contender; a running ``func`` is not interrupted."""
        self.lock.cancel()

    def _run_func(self, func: Any, *args: Any, **kwargs: Any) -> Steps:
        """Wait to be elected, call ``func(*args, **kwargs)`` (awaited when it is a coroutine
        function of an ``AsyncElection``), release when it returns or raises; ``None``.
        Returns quietly after ``cancel()``."""
        if not callable(func):
            raise ValueError("leader function is not callable")
        if not self.is_async and inspect.iscoroutinefunction(func):
            raise TypeError("a coroutine function needs AsyncElection (AsyncKazooClient)")
        try:
            if not (yield from self.lock._acquire()):
                return None
        except CancelledError:
            return None
        try:
            yield Call(func, *args, **kwargs)
        except GeneratorExit:
            raise
        except BaseException:
            yield from self.lock._release()
            raise
        yield from self.lock._release()
        return None

    run = op(_run_func)

    def _contenders(self) -> Steps:
        """Identifiers of the contenders, leader first."""
        return (yield from self.lock._contenders())

    contenders = op(_contenders)


class Election(_ElectionCore, Blocking):
    """Leader election for :class:`~kazoo.client.KazooClient` (``client.Election(path)``)."""

    _lock_class = Lock


class AsyncElection(_ElectionCore, Async):
    """Leader election for :class:`~kazoo.aio.AsyncKazooClient`; ``await run(func)``."""

    _lock_class = AsyncLock
