"""Pure request builders shared by every client facade.

Each builder validates its arguments (raising ``TypeError``/``ValueError``
before anything is sent), applies the chroot, picks the record and says how
to post-process the reply and which watch to register. The result is an
:class:`Op`; a facade turns it into a :class:`~kazoo.protocol.session.Pending`
with its own completion handle.

Multi-step operations (``ensure_path``, ``create(makepath=True)``, recursive
``delete``) are generators that ``yield`` ops and receive each result (or have
the error thrown in); a blocking, callback or ``await`` stepper runs them.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Callable, NamedTuple

from kazoo.exceptions import NodeExistsError, NoNodeError, NotEmptyError
from kazoo.protocol import serialization as ser
from kazoo.protocol.paths import unchroot, validate_path
from kazoo.protocol.states import AddWatchMode, WatcherType
from kazoo.protocol.watches import WatchKind
from kazoo.security import ACL

_TTL_MAX = 2**40


class Op(NamedTuple):
    """A request ready to submit: the record, its post-processing and its watch."""

    request: Any
    post: Callable[[Any], Any] | None = None
    watch: tuple[Any, WatchKind | None, WatchKind | None] | None = None


OpGenerator = Generator[Op, Any, Any]

#: ``_new(Op, (request, post, watch))`` makes an Op in one C call: a NamedTuple's own
#: constructor is Python code, and an op is made for every request.
_new = tuple.__new__


#: Bound on the paths a client remembers as checked (the cache is emptied when full).
_PATH_CACHE_SIZE = 1024


class Paths:
    """Chroot arithmetic for one client.

    Paths already checked are remembered (a bounded dict), so a program that reads the same
    nodes over and over does not validate them every time.
    """

    __slots__ = ("_checked", "chroot")

    def __init__(self, chroot: str) -> None:
        self.chroot = chroot
        self._checked: dict[str, str] = {}

    def server(self, path: str, sequential: bool = False) -> str:
        checked = self._checked
        if not sequential and type(path) is str:
            known = checked.get(path)
            if known is not None:
                return known
        validate_path(path, sequential)
        chroot = self.chroot
        if chroot:
            path_on_server = chroot if path == "/" else chroot + path
        else:
            path_on_server = path
        if not sequential:
            if len(checked) >= _PATH_CACHE_SIZE:
                checked.clear()
            checked[path] = path_on_server
        return path_on_server

    def client(self, path: str) -> str:
        return unchroot(self.chroot, path)


# -- argument checks ---------------------------------------------------------


def check_bytes(value: Any, name: str = "value", allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, bytes):
        raise TypeError(
            f"{name} must be bytes{' or None' if allow_none else ''}, not {type(value).__name__}"
        )


def check_bool(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def check_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def check_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def check_acl(acl: Any) -> list[ACL]:
    if isinstance(acl, ACL) or not isinstance(acl, (list, tuple)):
        raise TypeError("acl must be a list or tuple of ACL")
    for item in acl:
        if not isinstance(item, ACL):
            raise TypeError(f"acl entries must be ACL, not {type(item).__name__}")
    return list(acl)


def check_watch(watch: Any) -> None:
    if watch is not None and not callable(watch):
        raise TypeError("watch must be callable")


def create_flags(
    ephemeral: bool, sequence: bool, container: bool, ttl: int | None
) -> tuple[int, int]:
    """Validate the node-type options; return ``(flags, ttl or -1)``."""
    if ephemeral is False and sequence is False and container is False and ttl is None:
        return 0, -1  # a plain node, the common case
    check_bool(ephemeral, "ephemeral")
    check_bool(sequence, "sequence")
    check_bool(container, "container")
    if container and (ephemeral or sequence or ttl is not None):
        raise ValueError("a container node cannot be ephemeral, sequential or have a ttl")
    if container:
        return 4, -1
    if ttl is not None:
        check_int(ttl, "ttl")
        if not 0 < ttl < _TTL_MAX:
            raise ValueError("ttl must be in milliseconds with 0 < ttl < 2**40")
        if ephemeral:
            raise ValueError("an ephemeral node cannot have a ttl")
        return (6 if sequence else 5), ttl
    return (1 if ephemeral else 0) | (2 if sequence else 0), -1


# -- single-request builders ------------------------------------------------


class Builders:
    """The op builders of one client (chroot and default ACL bound)."""

    def __init__(self, paths: Paths, default_acl: Callable[[], Sequence[ACL]]) -> None:
        self.paths = paths
        self.default_acl = default_acl

    def _acl(self, acl: Any) -> list[ACL]:
        if acl is None:
            return list(self.default_acl())
        return check_acl(acl)

    def create(
        self,
        path: str,
        value: Any = b"",
        acl: Any = None,
        ephemeral: bool = False,
        sequence: bool = False,
        include_data: bool = False,
        container: bool = False,
        ttl: int | None = None,
    ) -> Op:
        check_str(path, "path")
        check_bytes(value)
        check_bool(include_data, "include_data")
        flags, ttl_ms = create_flags(ephemeral, sequence, container, ttl)
        server_path = self.paths.server(path, sequential=sequence)
        request = ser.Create(
            server_path, value, self._acl(acl), flags, ttl_ms, container, include_data
        )
        unchroot = self.paths.client
        if include_data:
            return _new(Op, (request, lambda res: (unchroot(res[0]), res[1]), None))
        return _new(Op, (request, lambda res: unchroot(res[0]), None))

    def exists(self, path: str, watch: Any = None) -> Op:
        check_watch(watch)
        request = ser.Exists(self.paths.server(path), watch is not None)
        if watch is None:
            return _new(Op, (request, None, None))
        return _new(Op, (request, None, (watch, WatchKind.DATA, WatchKind.EXIST)))

    def get(self, path: str, watch: Any = None) -> Op:
        if watch is None:  # the hot path
            return _new(Op, (ser.GetData(self.paths.server(path), False), None, None))
        check_watch(watch)
        request = ser.GetData(self.paths.server(path), True)
        return Op(request, None, (watch, WatchKind.DATA, None))

    def get_children(self, path: str, watch: Any = None, include_data: bool = False) -> Op:
        check_watch(watch)
        check_bool(include_data, "include_data")
        server_path = self.paths.server(path)
        cls = ser.GetChildren2 if include_data else ser.GetChildren
        request = cls(server_path, watch is not None)
        return _new(Op, (request, None, None if watch is None else (watch, WatchKind.CHILD, None)))

    def set(self, path: str, value: Any, version: int = -1) -> Op:
        check_bytes(value)
        check_int(version, "version")
        return _new(Op, (ser.SetData(self.paths.server(path), value, version), None, None))

    def delete(self, path: str, version: int = -1) -> Op:
        check_int(version, "version")
        return _new(Op, (ser.Delete(self.paths.server(path), version), None, None))

    def get_acls(self, path: str) -> Op:
        return Op(ser.GetACL(self.paths.server(path)))

    def set_acls(self, path: str, acls: Any, version: int = -1) -> Op:
        check_int(version, "version")
        return Op(ser.SetACL(self.paths.server(path), check_acl(acls), version))

    def sync(self, path: str) -> Op:
        return Op(ser.Sync(self.paths.server(path)), self.paths.client)

    def reconfig(self, joining: Any, leaving: Any, new_members: Any, from_config: int = -1) -> Op:
        for name, value in (
            ("joining", joining),
            ("leaving", leaving),
            ("new_members", new_members),
        ):
            if value is not None:
                check_str(value, name)
        check_int(from_config, "from_config")
        return Op(ser.Reconfig(joining, leaving, new_members, from_config))

    def add_watch(self, path: str, watch: Any, mode: Any) -> Op:
        if not callable(watch):
            raise TypeError("watch must be callable")
        check_int(mode, "mode")
        if mode == AddWatchMode.PERSISTENT:
            kind = WatchKind.PERSISTENT
        elif mode == AddWatchMode.PERSISTENT_RECURSIVE:
            kind = WatchKind.PERSISTENT_RECURSIVE
        else:
            raise ValueError(f"mode must be an AddWatchMode, not {mode!r}")
        request = ser.AddWatch(self.paths.server(path), int(mode))
        return Op(request, None, (watch, kind, None))

    def remove_all_watches(self, path: str, watcher_type: Any) -> Op:
        check_int(watcher_type, "watcher_type")
        if watcher_type not in tuple(WatcherType):
            raise ValueError(f"watcher_type must be a WatcherType, not {watcher_type!r}")
        return Op(ser.RemoveWatches(self.paths.server(path), int(watcher_type)))

    def get_ephemerals(self, prefix: str = "/") -> Op:
        check_str(prefix, "prefix")
        if not prefix.startswith("/"):
            raise ValueError("prefix must start with '/'")
        chroot = self.paths.chroot
        server_prefix = (chroot if prefix == "/" else chroot + prefix) if chroot else prefix
        unchroot = self.paths.client

        def post(paths: list[str]) -> list[str]:
            inside = [p for p in paths if not chroot or p == chroot or p.startswith(chroot + "/")]
            return sorted(unchroot(p) for p in inside)

        return Op(ser.GetEphemerals(server_prefix), post)

    def get_all_children_number(self, path: str) -> Op:
        return Op(ser.GetAllChildrenNumber(self.paths.server(path)))

    def whoami(self) -> Op:
        return Op(ser.WhoAmI())

    def auth(self, scheme: str, credential: str) -> Op:
        check_str(scheme, "scheme")
        check_str(credential, "credential")
        return Op(ser.Auth(0, scheme, credential.encode("utf-8")))

    def transaction(self, records: list[Any]) -> Op:
        unchroot = self.paths.client

        def post(results: list[Any]) -> list[Any]:
            return [unchroot(r) if isinstance(r, str) else r for r in results]

        return Op(ser.Transaction(records), post)

    # -- multi-step operations, as generators of ops ------------------------

    def ensure_path(self, path: str, acl: Any = None) -> OpGenerator:
        """Validate now (raising), then return the steps that make ``path``."""
        self.paths.server(path)
        return self._ensure_path(path, self._acl(acl))

    def _ensure_path(self, path: str, acl_list: list[ACL]) -> OpGenerator:
        stat = yield self.exists(path)
        if stat is not None:
            return True
        return (yield from self._create_parents_and(path, acl_list))

    def _create_parents_and(self, path: str, acl: list[ACL]) -> OpGenerator:
        """Create ``path`` and any missing ancestors; ``True`` if it already existed."""
        if path == "/":
            if not self.paths.chroot:
                return True
            try:  # the chroot node itself
                return (yield self.create(path, b"", acl))
            except NodeExistsError:
                return True
        try:
            return (yield self.create(path, b"", acl))
        except NodeExistsError:
            return True
        except NoNodeError:
            pass
        parent = path.rsplit("/", 1)[0] or "/"
        yield from self._create_parents_and(parent, acl)
        try:
            return (yield self.create(path, b"", acl))
        except NodeExistsError:
            return True

    def create_makepath(self, op: Op, path: str, acl: Any) -> OpGenerator:
        """Run a create; on a missing parent, make the parents and try again."""
        try:
            return (yield op)
        except NoNodeError:
            pass
        parent = path.rsplit("/", 1)[0] or "/"
        yield from self._create_parents_and(parent, self._acl(acl))
        return (yield op)

    def delete_recursive(self, path: str) -> OpGenerator:
        """Validate now (raising), then return the steps that delete ``path``'s tree."""
        self.paths.server(path)
        return self._delete_tree(path)

    def _delete_tree(self, path: str) -> OpGenerator:
        """Delete ``path`` and everything below it, depth first; ``True``."""
        for _attempt in range(10):
            try:
                children = yield self.get_children(path)
            except NoNodeError:
                return True
            base = "" if path == "/" else path
            for child in children:
                if not base and child == "zookeeper" and not self.paths.chroot:
                    continue  # the server's own subtree cannot be deleted
                yield from self._delete_tree(f"{base}/{child}")
            if path == "/":
                return True
            try:
                yield self.delete(path)
                return True
            except NoNodeError:
                return True
            except NotEmptyError:
                continue  # a child appeared meanwhile: go round again
        yield self.delete(path)
        return True
