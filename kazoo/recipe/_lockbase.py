"""What the lock family shares on top of :mod:`kazoo.recipe._waiting`: held nodes.

Everything here is written as runtime steps (see :mod:`kazoo.recipe._runtime`) so that it
serves the blocking and the asyncio flavour alike.

* :class:`HeldNode` -- a mixin tracking the node a recipe holds (a lock node, a semaphore
  lease) against the session: SUSPENDED keeps it, a reconnect keeps it once ZooKeeper shows
  the node still belongs to the current session, LOST drops an ephemeral one.
* :meth:`HeldNode._remove_node` -- contender clean-up that is retried in the background
  while the session lives when the connection is down.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Generator
from typing import Any, Callable

from kazoo.exceptions import (
    CancelledError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionLoss,
    LockTimeout,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.states import Callback, KazooState, ZnodeStat
from kazoo.recipe._runtime import Call, Sleep, op
from kazoo.recipe._waiting import LOSS_PAUSE, Deadline, owned, reconnecting, wait_connected

log = logging.getLogger("kazoo.recipe.lock")

Steps = Generator[Any, Any, Any]
Listener = Callable[[KazooState], Any]


def find_prefixed(children: list[str], prefix: str) -> str | None:
    """The child whose name starts with ``prefix`` (our unique contender prefix), if any."""
    for name in children:
        if name.startswith(prefix):
            return name
    return None


class Contender:
    """State of one ``acquire`` call: the name of our node (``None`` until known), whether a
    create may have been applied although we did not hear of it, the total budget and the
    event that wakes the call (watches, state changes, ``cancel()``)."""

    __slots__ = ("name", "unsure", "wake", "timeout", "deadline")

    def __init__(self, name: str | None, wake: Any, timeout: float | None) -> None:
        self.name = name
        self.unsure = False
        self.wake = wake
        self.timeout = timeout
        self.deadline = Deadline(timeout)

    def on_watch(self, event: Any) -> None:
        self.wake.set()

    def limit(self) -> float | None:
        """How long a request may wait for its reply: what is left of the budget, and a
        little more (a healthy server answers at once; this only cuts the wait for a request
        the client holds while it is disconnected)."""
        left = self.deadline.left()
        return None if left is None else left + LOSS_PAUSE


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
    path: str
    cancelled: bool
    is_async: bool
    _kind = "lock"  # in messages
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

    # -- acquiring ---------------------------------------------------------------------------

    def _check_cancelled(self) -> None:
        if self.cancelled:
            raise CancelledError(f"acquiring the {self._kind} {self.path} was cancelled")

    def _timed_out(self, contender: Contender) -> LockTimeout:
        return LockTimeout(
            f"failed to acquire the {self._kind} {self.path} within {contender.timeout} seconds"
        )

    def _rounds(
        self,
        contender: Contender,
        look: Callable[[], Steps],
        expired: Callable[[], None] | None = None,
    ) -> Steps:
        """Steps: ``look()`` until it decides (anything but ``None``) and return that.

        Before each look: the cancel check, and a wait for the connection within the budget
        (``False`` when the budget went on connection trouble). After a ConnectionLoss it
        pauses briefly; after a SessionExpiredError (LOST) it calls ``expired()`` and looks
        again on the new session. A closed client raises ``ConnectionClosedError``.
        """
        check, wake, deadline = self._check_cancelled, contender.wake, contender.deadline
        while True:
            check()
            if not (yield from wait_connected(self.client, wake, deadline, check)):
                return False
            try:
                outcome = yield from look()
            except ConnectionClosedError:
                raise
            except ConnectionLoss:
                if deadline.expired():
                    return False  # the budget went on connection trouble
                yield Sleep(deadline.pause(LOSS_PAUSE))
                continue
            except SessionExpiredError:
                if expired is not None:
                    expired()
                continue
            if outcome is not None:
                return outcome

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

    release = op(_release)

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
        if reconnecting(self.client):
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
                yield from wait_connected(client, wake, Deadline(None))
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


def _await_steps(awaitable: Any) -> Steps:
    yield Call(lambda: awaitable)
