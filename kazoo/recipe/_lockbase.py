"""What the lock family shares: time budgets, connection-aware waits, held nodes.

Everything here is written as runtime steps (see :mod:`kazoo.recipe._runtime`) so that it
serves the blocking and the asyncio flavour alike.

* :class:`Budget` -- a ``timeout=`` as a total budget across all the waits of one call.
* :func:`wait_for`, :func:`wait_connected` -- bounded waits on an event set by watches and
  state listeners (never a sleep to the end of the budget).
* :class:`HeldNode` -- a mixin tracking the node a recipe holds (a lock node, a semaphore
  lease) against the session: SUSPENDED keeps it, a reconnect keeps it once ZooKeeper shows
  the node still belongs to the current session, LOST drops an ephemeral one.
* :meth:`HeldNode._remove_node` -- contender clean-up that is retried in the background
  while the session lives when the connection is down.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Generator
from typing import Any, Callable

from kazoo.exceptions import (
    ConfigurationError,
    ConnectionClosedError,
    ConnectionLoss,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.states import Callback, KazooState, KeeperState, ZnodeStat
from kazoo.recipe._runtime import Call, Sleep, Wait

log = logging.getLogger("kazoo.recipe.lock")

Steps = Generator[Any, Any, Any]
Listener = Callable[[KazooState], Any]

#: Client states in which waiting for a connection is pointless: the next call fails at once.
_FINAL_STATES = (KeeperState.CLOSED, KeeperState.AUTH_FAILED)
#: Pause after a ConnectionLoss before looking again (the state change usually follows).
LOSS_PAUSE = 0.1


class Budget:
    """A total time budget (``None``: unlimited), measured on the monotonic clock."""

    __slots__ = ("end",)

    def __init__(self, timeout: float | None) -> None:
        self.end = None if timeout is None else time.monotonic() + max(0.0, float(timeout))

    def left(self) -> float | None:
        """Seconds left (never negative), or ``None`` when unlimited."""
        if self.end is None:
            return None
        return max(0.0, self.end - time.monotonic())

    def pause(self, seconds: float) -> float:
        """``seconds``, cut to what is left."""
        left = self.left()
        return seconds if left is None else min(seconds, left)


def wait_for(event: Any, timeout: float | None) -> Steps:
    """Steps: ``True`` once ``event`` is set, ``False`` when ``timeout`` ran out first."""
    if event.is_set():
        return True
    if timeout is not None and timeout <= 0:
        return False
    return bool((yield Wait(event, timeout)))


def wait_connected(
    client: Any, wake: Any, budget: Budget, check: Callable[[], None] | None = None
) -> Steps:
    """Steps: wait while the client is reconnecting (``wake`` is set on state changes).

    ``True`` when connected, or when the client is closed or failed authentication (the next
    call then raises at once); ``False`` when the budget ran out first. ``check()`` runs
    after every reset of ``wake`` (it raises to stop the wait, e.g. on a cancel).
    """
    while not client.connected and client.client_state not in _FINAL_STATES:
        wake.clear()
        if check is not None:
            check()
        if client.connected or client.client_state in _FINAL_STATES:
            break
        if not (yield from wait_for(wake, budget.left())):
            return False
    return True


def create_node(client: Any, path: str, value: bytes, **options: Any) -> Steps:
    """Steps: ``client.create(path, value, **options)``, making missing parents first.

    The parent usually exists, so the plain create comes first. (Not ``makepath=True``:
    the client's multi-step ``makepath`` does not fail at once on a client that was never
    started; a plain create raises ``ConnectionClosedError`` at once.)
    """
    while True:
        try:
            return (yield Call(client.create, path, value, **options))
        except NoNodeError:
            pass
        yield Call(client.ensure_path, path.rsplit("/", 1)[0] or "/")


def owned(client: Any, stat: ZnodeStat | None) -> bool:
    """Whether ``stat`` is of a node whose ephemeral owner is the client's current session."""
    client_id = client.client_id
    return stat is not None and client_id is not None and stat.ephemeralOwner == client_id[0]


def find_prefixed(children: list[str], prefix: str) -> str | None:
    """The child whose name starts with ``prefix`` (our unique contender prefix), if any."""
    for name in children:
        if name.startswith(prefix):
            return name
    return None


class _Hold:
    """A held node: its full path, the stat read when it was taken, whether it is ephemeral."""

    __slots__ = ("path", "stat", "ephemeral")

    def __init__(self, path: str, stat: ZnodeStat, ephemeral: bool) -> None:
        self.path = path
        self.stat = stat
        self.ephemeral = ephemeral


class HeldNode:
    """Mixin: session tracking of one held node and the user's lock listeners (API §3.4).

    The host class sets ``client`` and calls :meth:`_init_held`; it overrides
    :meth:`_hold_ended` to free what it keeps while holding. ``_holds`` holds at most one
    :class:`_Hold`; taking it out (``list.remove``/``pop``, atomic) decides who ends a hold
    when a release and a LOST race.
    """

    client: Any
    is_async: bool
    _event: Callable[[], Any]
    _spawn: Callable[[Steps], None]

    def _init_held(self) -> None:
        self._holds: list[_Hold] = []
        self._listeners: list[Listener] = []
        self._wake: Any = None  # event of the running acquire, set on every state change

    # -- user-facing state ----------------------------------------------------------------

    @property
    def is_acquired(self) -> bool:
        """``True`` while held; turns ``False`` on LOST (API §3.4)."""
        return bool(self._holds)

    @property
    def fencing_token(self) -> int | None:
        """The ``czxid`` of the held node, or ``None`` when not held."""
        holds = self._holds[:]
        return holds[0].stat.czxid if holds else None

    def add_listener(self, func: Listener) -> None:
        """While held, call ``func(state)`` at SUSPENDED, at CONNECTED after the node was
        validated, and at LOST (no longer held)."""
        if not callable(func):
            raise ConfigurationError("listener must be callable")
        if func not in self._listeners:
            self._listeners.append(func)

    def remove_listener(self, func: Listener) -> None:
        """Stop calling ``func`` (no error if it was not added)."""
        try:
            self._listeners.remove(func)
        except ValueError:
            pass

    # -- holding -----------------------------------------------------------------------------

    def _start_hold(self, path: str, stat: ZnodeStat, ephemeral: bool) -> None:
        self._holds.append(_Hold(path, stat, ephemeral))

    def _take_hold(self) -> _Hold | None:
        try:
            return self._holds.pop()
        except IndexError:
            return None

    def _drop(self, hold: _Hold) -> bool:
        """End ``hold`` because the session no longer owns it; ``True`` if it was still held."""
        try:
            self._holds.remove(hold)
        except ValueError:
            return False
        self._hold_ended()
        return True

    def _hold_ended(self) -> None:
        """Called once a hold has ended (released or dropped). Override."""

    def _on_session(self, state: KazooState) -> None:
        """Client state listener while acquiring or holding."""
        wake = self._wake
        if wake is not None:
            wake.set()
        holds = self._holds[:]
        if not holds:
            return
        hold = holds[0]
        if state == KazooState.SUSPENDED:
            self._notify(state)
        elif state == KazooState.LOST:
            if hold.ephemeral and self._drop(hold):
                self._notify(state)
        elif state == KazooState.CONNECTED:
            self._spawn(self._validate(hold))

    def _validate(self, hold: _Hold) -> Steps:
        """After a reconnect: still ours only if it exists (and, when ephemeral, belongs to
        the current session)."""
        try:
            stat = yield Call(self.client.exists, hold.path)
        except (ConnectionLoss, SessionExpiredError):
            return  # the next state change decides
        if hold not in self._holds:
            return
        if stat is not None:
            if not hold.ephemeral or owned(self.client, stat):
                self._notify(KazooState.CONNECTED)
                return
            if self.client.client_id is None:
                return  # disconnected again: the next CONNECTED validates
        if self._drop(hold):
            self._notify(KazooState.LOST)

    def _release(self) -> Steps:
        """Release: delete the held node; ``True`` if it was held (``False`` after LOST)."""
        hold = self._take_hold()
        if hold is None:
            return False
        try:
            return (yield from self._delete_held(hold))
        finally:
            self._hold_ended()

    def _guarded(
        self, steps: Steps, give_up: Callable[[], Steps], finish: Callable[[bool], None]
    ) -> Steps:
        """Run ``steps`` (an acquisition). Unless they return a true value, the ``give_up()``
        steps remove what they left behind (also on an exception, which is re-raised);
        ``finish(got)`` is called in every case."""
        try:
            got = yield from steps
        except GeneratorExit:
            finish(False)
            raise
        except BaseException:
            try:
                yield from give_up()
            finally:
                finish(False)
            raise
        if not got:
            try:
                yield from give_up()
            finally:
                finish(False)
            return False
        finish(True)
        return got

    def _delete_held(self, hold: _Hold) -> Steps:
        """Steps of a release: delete the held node; ``True`` if it was still there."""
        try:
            yield Call(self.client.retry, self.client.delete, hold.path)
        except NoNodeError:
            return False
        except SessionExpiredError:  # includes ConnectionClosedError
            if hold.ephemeral:
                return False  # the session ended: the node went with it
            raise
        return True

    # -- listeners of the user -------------------------------------------------------------

    def _notify(self, state: KazooState) -> None:
        for func in list(self._listeners):
            if self.is_async:
                self._call_listener(func, state)
            else:  # on the handler's callback worker, in order with the client's listeners
                handler = self.client.handler
                handler.dispatch_callback(Callback("watch", self._call_listener, (func, state)))

    def _call_listener(self, func: Listener, state: KazooState) -> None:
        try:
            result = func(state)
            if inspect.isawaitable(result):
                self._spawn(_await_steps(result))
        except Exception:  # noqa: BLE001 - a listener must not break the lock
            log.exception("a lock listener raised")

    # -- removing contender / claim nodes --------------------------------------------------

    def _remove_node(self, parent: str, name: str | None, prefix: str, ephemeral: bool) -> Steps:
        """Steps: remove our node ``parent/name`` (found by ``prefix`` when ``name`` is not
        known). When the connection is down it is retried in the background while the
        session lives (for a persistent node: until the client is closed)."""
        if not self.client.connected and self.client.client_state not in _FINAL_STATES:
            self._spawn(self._remove_later(parent, name, prefix, ephemeral))
            return
        try:
            yield from _remove_steps(self.client, parent, name, prefix)
        except (NoNodeError, ConnectionClosedError):
            return
        except SessionExpiredError:
            if not ephemeral:
                self._spawn(self._remove_later(parent, name, prefix, ephemeral))
        except Exception:  # noqa: BLE001 - e.g. ConnectionLoss: retried in the background
            self._spawn(self._remove_later(parent, name, prefix, ephemeral))
        except BaseException:  # e.g. a second cancellation of an asyncio task
            self._spawn(self._remove_later(parent, name, prefix, ephemeral))
            raise

    def _remove_later(self, parent: str, name: str | None, prefix: str, ephemeral: bool) -> Steps:
        wake = self._event()
        client = self.client

        def on_state(state: KazooState) -> None:
            wake.set()

        client.add_listener(on_state)
        try:
            while True:
                yield from wait_connected(client, wake, Budget(None))
                try:
                    yield from _remove_steps(client, parent, name, prefix)
                    return
                except (NoNodeError, ConnectionClosedError):
                    return
                except SessionExpiredError:
                    if ephemeral:
                        return
                except ConnectionLoss:
                    pass
                yield Sleep(LOSS_PAUSE)
        finally:
            client.remove_listener(on_state)


def _remove_steps(client: Any, parent: str, name: str | None, prefix: str) -> Steps:
    if name is None:
        try:
            children = yield Call(client.get_children, parent)
        except NoNodeError:
            return
        name = find_prefixed(children, prefix)
        if name is None:
            return
    yield Call(client.delete, parent + "/" + name)


def read_identifiers(client: Any, parent: str, names: list[str]) -> Steps:
    """Steps: the data of ``parent/<name>`` for each name as text (vanished nodes skipped)."""
    identifiers = []
    for name in names:
        try:
            data, _stat = yield Call(client.retry, client.get, parent + "/" + name)
        except NoNodeError:
            continue
        identifiers.append((data or b"").decode("utf-8", "replace"))
    return identifiers


def _await_steps(awaitable: Any) -> Steps:
    yield Call(lambda: awaitable)
