"""``TreeCache``: a local, event-publishing copy of a ZooKeeper subtree.

How it stays equal to the server's tree:

* Every cached node carries two one-shot watches of the cache (a data watch from ``get`` and
  a child watch from ``get_children``). The client keeps one-shot watches across reconnects
  and the server answers their re-registration with the changes missed meanwhile, so after a
  reconnect with the same session nothing is re-read: missed changes arrive as ordinary
  events. (A persistent recursive watch is *not* used: the server re-arms those without
  catch-up events, so a cache built on one would have to re-read the whole subtree after
  every reconnect to converge.)
* Watch events are only triggers. The cache's state changes only from read replies, which
  come back in the order the server handled the requests (one session, FIFO); a watch event
  leads to a new read of that node. So a late reply can never undo a newer one, and the last
  read after the last change of each node brings the cache to the server's state.
* After a lost session (every watch dropped) every cached node is read again on the new
  session, and the differences are published as added / updated / removed events.

One worker of the cache (spawned with the client's handler) takes watch events, replies and
state changes from a queue, updates the tree and calls the listeners, in order.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from kazoo.exceptions import (
    AuthFailedError,
    ConnectionLoss,
    KazooException,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.paths import validate_path
from kazoo.protocol.states import EventType, KazooState, WatchedEvent, ZnodeStat
from kazoo.recipe._waiting import join_path, session_id

__all__ = ["NodeData", "TreeCache", "TreeEvent"]

log = logging.getLogger(__name__)

_STOP: Any = object()
_LATENT, _STARTED, _CLOSED = "latent", "started", "closed"
_DATA, _CHILDREN, _EXISTS = "data", "children", "exists"


class TreeEvent(tuple):
    """``(event_type, event_data)`` published to the listeners of a :class:`TreeCache`."""

    __slots__ = ()

    NODE_ADDED = 0
    NODE_UPDATED = 1
    NODE_REMOVED = 2
    CONNECTION_SUSPENDED = 3
    CONNECTION_RECONNECTED = 4
    CONNECTION_LOST = 5
    INITIALIZED = 6

    @property
    def event_type(self) -> int:
        return self[0]

    @property
    def event_data(self) -> NodeData | None:
        return self[1]

    @classmethod
    def make(cls, event_type: int, event_data: NodeData | None) -> TreeEvent:
        return cls((event_type, event_data))


class NodeData(tuple):
    """``(path, data, stat)`` of a cached node."""

    __slots__ = ()

    @property
    def path(self) -> str:
        return self[0]

    @property
    def data(self) -> bytes | None:
        return self[1]

    @property
    def stat(self) -> ZnodeStat:
        return self[2]

    @classmethod
    def make(cls, path: str, data: bytes | None, stat: ZnodeStat) -> NodeData:
        return cls((path, data, stat))


class _Node:
    """A cached node; ``stat`` is ``None`` until its data has been read."""

    __slots__ = ("data", "stat", "children")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.stat: ZnodeStat | None = None
        self.children: set[str] = set()


Listener = Callable[[TreeEvent], Any]
FaultListener = Callable[[BaseException], Any]


class TreeCache:
    """Cache of the subtree at ``path``, kept up to date with watches (see module doc)."""

    def __init__(self, client: Any, path: str) -> None:
        validate_path(path)
        self._client = client
        self._root = path
        self._handler = client.handler
        self._lock = client.handler.rlock_object()
        self._state = _LATENT
        self._nodes: dict[str, _Node] = {}
        self._listeners: list[Listener] = []
        self._fault_listeners: list[FaultListener] = []
        self._queue: Any = client.handler.queue_impl()
        self._events: list[TreeEvent] = []  # to publish once the current item is done
        self._faults: list[BaseException] = []
        self._outstanding = 0
        self._initialized = False
        self._needs_resync = False
        self._synced_session: int | None = None  # the session the tree was last read on

    # -- public API ---------------------------------------------------------------------

    def start(self) -> None:
        """Create the root if missing and begin loading the tree (``INITIALIZED`` when done).

        :raises KazooException: the cache was started or closed before.
        """
        with self._lock:
            if self._state == _STARTED:
                raise KazooException("the cache is already started")
            if self._state == _CLOSED:
                raise KazooException("a closed cache cannot be started again")
            # exists() first: it fails at once on a stopped client (ConnectionClosedError)
            if self._client.exists(self._root) is None:
                self._client.ensure_path(self._root)
            self._state = _STARTED
        self._client.add_listener(self._on_state)
        self._handler.spawn(self._run)
        self._queue.put(self._load)

    def close(self) -> None:
        """Stop updating and publishing; the cache is emptied and cannot be restarted."""
        with self._lock:
            started = self._state == _STARTED
            self._state = _CLOSED
            self._nodes.clear()
            self._events.clear()
        if started:
            self._client.remove_listener(self._on_state)
            self._queue.put(_STOP)

    def listen(self, listener: Listener) -> Listener:
        """Call ``listener(TreeEvent)`` for every event; returns ``listener`` (decorator)."""
        self._listeners = [*self._listeners, listener]
        return listener

    def listen_fault(self, listener: FaultListener) -> FaultListener:
        """Call ``listener(exception)`` on errors; returns ``listener`` (decorator)."""
        self._fault_listeners = [*self._fault_listeners, listener]
        return listener

    def get_data(self, path: str, default: Any = None) -> NodeData | Any:
        """The cached :class:`NodeData` of ``path``, or ``default`` when not cached."""
        self._check_path(path)
        with self._lock:
            node = self._nodes.get(path)
            if node is None or node.stat is None:
                return default
            return NodeData.make(path, node.data, node.stat)

    def get_children(self, path: str, default: Any = None) -> frozenset[str] | Any:
        """Names of the cached children of ``path`` (a ``frozenset``), or ``default``."""
        self._check_path(path)
        with self._lock:
            node = self._nodes.get(path)
            if node is None or node.stat is None:
                return default
            return frozenset(
                name for name in node.children if self._live(join_path(path, name))
            )

    # -- paths ------------------------------------------------------------------------------

    def _check_path(self, path: str) -> None:
        validate_path(path)
        root = self._root
        if path != root and root != "/" and not path.startswith(root + "/"):
            raise ValueError(f"{path!r} is outside the cached tree {root!r}")

    @staticmethod
    def _parent(path: str) -> tuple[str, str]:
        cut = path.rfind("/")
        return (path[:cut] or "/"), path[cut + 1 :]

    def _live(self, path: str) -> bool:
        node = self._nodes.get(path)
        return node is not None and node.stat is not None

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._lock:
                if self._state != _STARTED:
                    continue
                try:
                    item()
                except Exception as exc:  # a bug must not end the worker
                    self._faults.append(exc)
                events, self._events = self._events, []
                faults, self._faults = self._faults, []
            for fault in faults:  # listeners are called without holding the lock
                self._fault(fault)
            self._publish(events)

    def _publish(self, events: list[TreeEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                if self._state != _STARTED:
                    return
                try:
                    listener(event)
                except Exception as exc:
                    self._fault(exc)

    def _fault(self, exc: BaseException) -> None:
        listeners = self._fault_listeners
        if not listeners:
            log.error("TreeCache of %s: %r", self._root, exc, exc_info=exc)
        for listener in listeners:
            try:
                listener(exc)
            except Exception:
                log.exception("a TreeCache fault listener raised")

    def _emit(self, event_type: int, data: NodeData | None = None) -> None:
        self._events.append(TreeEvent.make(event_type, data))

    # -- reads ----------------------------------------------------------------------------

    def _load(self) -> None:
        self._synced_session = session_id(self._client)
        self._nodes.setdefault(self._root, _Node())
        self._read(_DATA, self._root)
        self._read(_CHILDREN, self._root)

    def _read(self, kind: str, path: str) -> None:
        """Send one read (on the worker only, so replies come back in this order)."""
        client, watch = self._client, self._on_watch
        if kind == _DATA:
            result = client.get_async(path, watch=watch)
        elif kind == _CHILDREN:
            result = client.get_children_async(path, watch=watch, include_data=True)
        else:
            result = client.exists_async(path, watch=watch)
        self._outstanding += 1
        result.rawlink(functools.partial(self._on_reply, kind, path))

    def _on_reply(self, kind: str, path: str, result: IAsyncResult[Any]) -> None:
        # completion worker: hand the reply to the cache's worker, in reply order
        self._queue.put(functools.partial(self._take_reply, kind, path, result))

    def _take_reply(self, kind: str, path: str, result: IAsyncResult[Any]) -> None:
        self._outstanding -= 1
        exc = result.exception
        if exc is not None and not isinstance(exc, NoNodeError):
            self._read_failed(kind, path, exc)
        elif kind == _DATA:
            self._got_data(path, result)
        elif kind == _CHILDREN:
            self._got_children(path, result)
        else:
            self._got_exists(path, result)
        self._check_initialized()

    def _read_failed(self, kind: str, path: str, exc: BaseException) -> None:
        if isinstance(exc, (SessionExpiredError, AuthFailedError)):
            # the session (or the client) is gone: everything is read on the next session
            self._needs_resync = True
            self._maybe_resync()
        elif isinstance(exc, ConnectionLoss):
            # in flight when the connection dropped (no watch was left): ask again
            if (path in self._nodes) != (kind == _EXISTS):
                self._read(kind, path)
        else:
            self._faults.append(exc)

    def _check_initialized(self) -> None:
        if not self._initialized and not self._outstanding and not self._needs_resync:
            self._initialized = True
            self._emit(TreeEvent.INITIALIZED)

    def _maybe_resync(self) -> None:
        """After a lost session: read every cached node again, once per new session.

        Waits for a connection (the CONNECTED state calls again); a failure that comes
        after the tree was already read on the current session changes nothing.
        """
        session = session_id(self._client)
        if not self._needs_resync or session is None:
            return
        self._needs_resync = False
        if session == self._synced_session:
            return
        self._synced_session = session
        self._nodes.setdefault(self._root, _Node())
        for path in list(self._nodes):
            self._read(_DATA, path)
            self._read(_CHILDREN, path)

    # -- replies --------------------------------------------------------------------------

    def _got_data(self, path: str, result: IAsyncResult[Any]) -> None:
        node = self._nodes.get(path)
        if node is None:
            return  # removed since: a newer reply said so
        if result.exception is not None:  # NoNodeError
            self._remove(path)
            return
        data, stat = result.get_nowait()
        old = node.stat
        node.data, node.stat = data, stat
        if old is None:
            self._emit(TreeEvent.NODE_ADDED, NodeData.make(path, data, stat))
        elif old.mzxid != stat.mzxid:
            self._emit(TreeEvent.NODE_UPDATED, NodeData.make(path, data, stat))

    def _got_children(self, path: str, result: IAsyncResult[Any]) -> None:
        node = self._nodes.get(path)
        if node is None:
            return
        if result.exception is not None:  # NoNodeError
            self._remove(path)
            return
        children, stat = result.get_nowait()
        if node.stat is not None and stat.mzxid == node.stat.mzxid:
            node.stat = stat  # same data, newer child counters
        listed = set(children)
        for name in node.children - listed:
            self._remove(join_path(path, name))
        for name in sorted(listed - node.children):
            child = join_path(path, name)
            self._nodes[child] = _Node()
            self._read(_DATA, child)
            self._read(_CHILDREN, child)
        node.children = listed

    def _got_exists(self, path: str, result: IAsyncResult[Any]) -> None:
        if result.exception is None and result.value is not None:
            self._appeared(path)

    def _appeared(self, path: str) -> None:
        if path == self._root and path not in self._nodes:
            self._nodes[path] = _Node()
            self._read(_DATA, path)
            self._read(_CHILDREN, path)

    def _remove(self, path: str) -> None:
        """Drop ``path`` and its subtree; publish NODE_REMOVED, deepest nodes first."""
        node = self._nodes.pop(path, None)
        if node is None:
            return
        for name in sorted(node.children):
            self._remove(join_path(path, name))
        if path == self._root:
            self._read(_EXISTS, path)  # tells us when the root comes back
        else:
            parent, name = self._parent(path)
            owner = self._nodes.get(parent)
            if owner is not None:
                owner.children.discard(name)
        if node.stat is not None:
            self._emit(TreeEvent.NODE_REMOVED, NodeData.make(path, node.data, node.stat))

    # -- client callbacks -------------------------------------------------------------------

    def _on_watch(self, event: WatchedEvent) -> None:
        if self._state == _STARTED and event.type != EventType.NONE:
            self._queue.put(functools.partial(self._take_watch, event))

    def _take_watch(self, event: WatchedEvent) -> None:
        path = event.path
        if path is None:
            return
        if event.type == EventType.CREATED:
            self._appeared(path)
        elif path in self._nodes:
            if event.type in (EventType.CHANGED, EventType.DELETED):
                self._read(_DATA, path)
            if event.type in (EventType.CHILD, EventType.DELETED):
                self._read(_CHILDREN, path)

    def _on_state(self, state: KazooState) -> bool:
        if self._state == _CLOSED:
            return True
        self._queue.put(functools.partial(self._take_state, state))
        return False

    def _take_state(self, state: KazooState) -> None:
        if state == KazooState.SUSPENDED:
            self._emit(TreeEvent.CONNECTION_SUSPENDED)
        elif state == KazooState.LOST:
            self._needs_resync = True
            self._emit(TreeEvent.CONNECTION_LOST)
        else:
            self._maybe_resync()
            self._emit(TreeEvent.CONNECTION_RECONNECTED)
