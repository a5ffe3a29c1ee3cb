"""Barriers: :class:`Barrier` and :class:`DoubleBarrier` (API §2.10).

* ``Barrier(client, path)``: the barrier is up while ``path`` exists.
* ``DoubleBarrier(client, path, num_clients, identifier=None)``: members are ephemeral
  ``path/<uuid4 hex>`` nodes holding the identifier; ``path/ready`` is created by the
  member that sees ``num_clients`` members. Leaving follows the ZooKeeper recipe: the
  lowest member waits for the highest, the others delete their node and wait for the
  lowest, until no member is left. The last member out deletes ``path/ready`` before its
  own node (old kazoo deleted it as each member began to leave, which could strand a
  member still entering).

Waits are disconnect-safe: they wake on watch events and on connection changes, re-read
ZooKeeper after a reconnect or LOST, and every ``timeout`` is a total budget.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kazoo.exceptions import ConnectionClosedError, KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import EventType
from kazoo.recipe._runtime import Async, Blocking, Call, Steps, op
from kazoo.recipe._waiting import (
    Deadline,
    Guarded,
    Participation,
    Signal,
    default_identifier,
    delete_own,
    ensure_ephemeral,
    poll,
    session_id,
    watched,
)

__all__ = ["AsyncBarrier", "AsyncDoubleBarrier", "Barrier", "DoubleBarrier"]

log = logging.getLogger(__name__)


class _BarrierCore(Guarded):
    """The barrier is up while its node exists."""

    client: Any

    def __init__(self, client: Any, path: str) -> None:
        self._bind(client, path)
        self._signal = Signal(self._event)  # type: ignore[attr-defined]

    def _create(self) -> Steps[None]:
        """Put the barrier up (create its node, and missing parents)."""
        yield Call(self.client.retry, self.client.ensure_path, self.path)

    create = op(_create)

    def _remove(self) -> Steps[bool]:
        """Take the barrier down: ``True`` if the node was deleted, ``False`` if absent."""
        try:
            yield Call(self.client.retry, self.client.delete, self.path)
        except NoNodeError:
            return False
        return True

    remove = op(_remove)

    def _wait(self, timeout: float | None = None) -> Steps[bool]:
        """``True`` once the barrier is down; ``False`` when ``timeout`` ran out first."""
        client, signal = self.client, self._signal
        client.add_listener(signal.wake)
        try:
            down = yield from poll(client, signal, Deadline(timeout), self._down)
        finally:
            client.remove_listener(signal.wake)
        return down is not None

    wait = op(_wait)

    def _down(self) -> Steps[bool | None]:
        """One look: ``True`` when the node is gone, else ``None`` with a watch on it."""
        stat = yield from watched(self._signal, self.client.exists, self.path)
        return True if stat is None else None


class Barrier(_BarrierCore, Blocking):
    """A barrier that blocks waiters while its node exists (blocking client)."""


class AsyncBarrier(_BarrierCore, Async):
    """:class:`Barrier` for ``AsyncKazooClient`` (coroutine methods of the same names)."""


class _DoubleBarrierCore(Participation, Guarded):
    """Members enter together once ``num_clients`` are there, and leave together."""

    client: Any

    def __init__(
        self, client: Any, path: str, num_clients: int, identifier: str | None = None
    ) -> None:
        self._bind(client, path)
        if not isinstance(num_clients, int) or isinstance(num_clients, bool):
            raise TypeError(f"num_clients must be an int, not {type(num_clients).__name__}")
        if num_clients < 1:
            raise ValueError(f"num_clients must be at least 1, not {num_clients}")
        self.num_clients = num_clients
        self.identifier = identifier or default_identifier()
        self.participating = False
        self.node_name = uuid.uuid4().hex
        self.create_path = f"{path}/{self.node_name}"
        self._ready_path = f"{path}/ready"
        self._ready_seen = False
        self._member_session: int | None = None  # session our member node was made on
        self._signal = Signal(self._event)  # type: ignore[attr-defined]
        self._signal.on_event = self._note_event

    # -- callbacks (handler worker or loop) -----------------------------------------------

    def _note_event(self, event: Any) -> None:
        if event.type == EventType.CREATED and event.path == self._ready_path:
            self._ready_seen = True

    def _on_state(self, state: Any) -> None:
        super()._on_state(state)  # LOST: no longer participating
        self._signal.wake()

    # -- enter -----------------------------------------------------------------------------

    def _enter(self, timeout: float | None = None) -> Steps[None]:
        """Join and wait until ``num_clients`` members are there (at most ``timeout``
        seconds in total). Sets ``participating``; a failure or a timeout is not raised:
        the member node is removed and ``participating`` is ``False``."""
        self.participating = False
        self.client.add_listener(self._on_state)
        entered = yield from self._quietly(self._enter_steps(Deadline(timeout)), "entering")
        if entered:
            self.participating = True
        elif entered is not None:
            yield from self._abandon()

    enter = op(_enter)

    def _enter_steps(self, deadline: Deadline) -> Steps[bool]:
        client = self.client
        self._ready_seen = False
        yield Call(client.retry, client.ensure_path, self.path)
        return (yield from poll(client, self._signal, deadline, self._entered)) is not None

    def _quietly(self, steps: Steps[bool], doing: str) -> Steps[bool | None]:
        """Run ``steps``; if they fail, remove our member node and log a ZooKeeper error
        (``None``) -- other errors, and a closed client, are raised."""
        try:
            return (yield from steps)
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                raise
            yield from self._abandon()
            if isinstance(exc, ConnectionClosedError) or not isinstance(exc, KazooException):
                raise
            log.warning("%s the double barrier %s failed: %r", doing, self.path, exc)
            return None

    def _entered(self) -> Steps[bool | None]:
        """One look: make sure our member node exists, then whether the barrier opened
        (``True``; ``None``: not yet, with a watch on the ready node)."""
        client = self.client
        yield from self._ensure_member()
        if self._ready_seen:
            return True
        if (yield from watched(self._signal, client.exists, self._ready_path)) is not None:
            return True
        children = yield Call(client.get_children, self.path)
        if len([name for name in children if name != "ready"]) < self.num_clients:
            return True if self._ready_seen else None
        try:
            yield Call(client.create, self._ready_path)
        except NodeExistsError:
            pass
        return True

    def _ensure_member(self) -> Steps[None]:
        """Create our ephemeral member node unless this session already made it."""
        client = self.client
        if self._member_session is not None and self._member_session == session_id(client):
            return
        yield from ensure_ephemeral(client, self.create_path, self.identifier.encode("utf-8"))
        self._member_session = session_id(client)

    def _abandon(self) -> Steps[None]:
        """Remove our member node (if it is ours), retried while the session lives."""
        self.participating = False
        self.client.remove_listener(self._on_state)
        self._member_session = None
        yield from delete_own(self.client, self.create_path)

    # -- leave -----------------------------------------------------------------------------

    def _leave(self, timeout: float | None = None) -> Steps[None]:
        """Leave and wait until every member has left (at most ``timeout`` seconds in
        total). ``participating`` is ``False`` afterwards; on a failure or a timeout the
        member node is removed and nothing is raised."""
        client = self.client
        client.add_listener(self._on_state)
        left_all = yield from self._quietly(self._leave_steps(Deadline(timeout)), "leaving")
        if left_all is None:
            return
        if not left_all:
            yield from self._abandon()
        self.participating = False
        client.remove_listener(self._on_state)

    leave = op(_leave)

    def _leave_steps(self, deadline: Deadline) -> Steps[bool]:
        return (yield from poll(self.client, self._signal, deadline, self._all_left)) is not None

    def _all_left(self) -> Steps[bool | None]:
        """Leave if it is our turn; ``True`` once no member is left, else ``None`` with a
        watch on the member we wait for."""
        client = self.client
        while True:
            try:
                children = yield Call(client.get_children, self.path)
            except NoNodeError:
                return True
            members = sorted(name for name in children if name != "ready")
            ours = self.node_name in members and self._member_session == session_id(client)
            if not members or members == [self.node_name]:
                # The last one out takes the ready node down first, so that a member still
                # on its way in cannot miss it and the next round waits for its own.
                try:
                    yield Call(client.retry, client.delete, self._ready_path)
                except NoNodeError:
                    pass
                yield from self._delete_member()
                return True
            if ours and members[0] == self.node_name:
                target = members[-1]  # the lowest member leaves last
            else:
                if ours:
                    yield from self._delete_member()
                target = members[0]
            stat = yield from watched(self._signal, client.exists, f"{self.path}/{target}")
            if stat is not None:
                return None

    def _delete_member(self) -> Steps[None]:
        self._member_session = None
        yield from delete_own(self.client, self.create_path)


class DoubleBarrier(_DoubleBarrierCore, Blocking):
    """A double barrier (blocking client): ``enter()`` waits for ``num_clients`` members,
    ``leave()`` for all of them to leave."""


class AsyncDoubleBarrier(_DoubleBarrierCore, Async):
    """:class:`DoubleBarrier` for ``AsyncKazooClient`` (coroutine ``enter``/``leave``)."""
