"""Unit tests for the pure request builders, kazoo._ops.

Covers argument validation (raised before anything is sent), chroot handling on the
way out and on the way back, create opcodes and flags, and the multi-step generators
(ensure_path, create(makepath=True), recursive delete) driven by hand.
(DESIGN.md §2, API.md §2.1.5-2.1.7, §3.1-3.3, PROTOCOL.md §6, §11.)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from kazoo._ops import Builders, Op, OpGenerator, Paths
from kazoo.exceptions import (
    BadVersionError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
)
from kazoo.protocol import serialization as ser
from kazoo.protocol.states import AddWatchMode, WatcherType, ZnodeStat
from kazoo.protocol.watches import WatchKind
from kazoo.security import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Permissions

STAT = ZnodeStat(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11)
DEFAULT_ACL = [ACL(Permissions.ALL, Id("digest", "me:hash"))]
CUSTOM_ACL = [ACL(Permissions.READ | Permissions.WRITE, Id("world", "anyone"))]


def watcher(event: Any) -> None:  # pragma: no cover - never called here
    pass


def b(chroot: str = "") -> Builders:
    return Builders(Paths(chroot), lambda: DEFAULT_ACL)


# =========================================================================== Paths


@pytest.mark.parametrize(
    ("chroot", "path", "server"),
    [
        ("", "/", "/"),
        ("", "/x", "/x"),
        ("/app", "/", "/app"),
        ("/app", "/x", "/app/x"),
        ("/app/deep", "/x/y", "/app/deep/x/y"),
    ],
)
def test_paths_server_adds_the_chroot(chroot: str, path: str, server: str) -> None:
    assert Paths(chroot).server(path) == server


@pytest.mark.parametrize(
    ("server", "client"),
    [
        ("/app", "/"),
        ("/app/x", "/x"),
        ("/app/x/y", "/x/y"),
        ("/apple", "/apple"),  # a name that merely starts like the chroot
        ("/other", "/other"),
        ("/", "/"),
    ],
)
def test_paths_client_strips_the_chroot(server: str, client: str) -> None:
    assert Paths("/app").client(server) == client


def test_paths_without_chroot_are_unchanged() -> None:
    assert Paths("").client("/app/x") == "/app/x"


@pytest.mark.parametrize("bad", ["", "x", "/x/", "/a//b", "/a/./b", "/a/..", "/a\x00b", "/\ud800"])
def test_paths_server_validates(bad: str) -> None:
    with pytest.raises(ValueError, match="path"):
        Paths("/app").server(bad)


def test_paths_server_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="path must be a str"):
        Paths("").server(b"/x")  # type: ignore[arg-type]


def test_sequential_path_may_end_with_slash() -> None:
    op = b("/app").create("/queue/", sequence=True)
    assert op.request.path == "/app/queue/"
    with pytest.raises(ValueError):
        b().create("/queue/")


# =========================================================================== validation


@pytest.mark.parametrize("value", ["text", 1, bytearray(b"x"), ["a"]])
def test_create_value_must_be_bytes(value: Any) -> None:
    with pytest.raises(TypeError, match="value must be bytes or None, not"):
        b().create("/x", value)


def test_create_value_none_is_allowed() -> None:
    assert b().create("/x", None).request.data is None


def test_set_value_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="value must be bytes"):
        b().set("/x", "text")


def test_bare_acl_is_rejected() -> None:
    single = OPEN_ACL_UNSAFE[0]
    with pytest.raises(TypeError, match="list or tuple of ACL"):
        b().create("/x", acl=single)
    with pytest.raises(TypeError, match="list or tuple of ACL"):
        b().set_acls("/x", single)
    with pytest.raises(TypeError, match="list or tuple of ACL"):
        gen = b().ensure_path("/x", acl=single)
        next(gen)


@pytest.mark.parametrize("acl", [["world:anyone"], [None], [(31, ("world", "anyone"))]])
def test_acl_entries_must_be_acl(acl: Any) -> None:
    with pytest.raises(TypeError, match="acl entries must be ACL"):
        b().create("/x", acl=acl)


def test_acl_defaults_and_tuples() -> None:
    assert b().create("/x").request.acl == DEFAULT_ACL
    assert b().create("/x", acl=tuple(READ_ACL_UNSAFE)).request.acl == READ_ACL_UNSAFE
    assert b().set_acls("/x", READ_ACL_UNSAFE).request.acl == READ_ACL_UNSAFE


@pytest.mark.parametrize("flag", ["ephemeral", "sequence", "include_data", "container"])
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_create_flags_must_be_bool(flag: str, value: Any) -> None:
    with pytest.raises(TypeError, match=f"{flag} must be a bool"):
        b().create("/x", **{flag: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"container": True, "ephemeral": True},
        {"container": True, "sequence": True},
        {"container": True, "ttl": 1000},
    ],
)
def test_container_cannot_be_combined(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="container"):
        b().create("/x", **kwargs)


@pytest.mark.parametrize("ttl", [0, -1, 2**40, 2**41])
def test_ttl_bounds(ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        b().create("/x", ttl=ttl)


@pytest.mark.parametrize("ttl", [1, 2**40 - 1])
def test_ttl_limits_accepted(ttl: int) -> None:
    assert b().create("/x", ttl=ttl).request.ttl == ttl


def test_ttl_with_ephemeral_is_rejected() -> None:
    with pytest.raises(ValueError, match="ephemeral"):
        b().create("/x", ephemeral=True, ttl=1000)


@pytest.mark.parametrize("ttl", [True, 1.5, "1000"])
def test_ttl_must_be_int(ttl: Any) -> None:
    with pytest.raises(TypeError, match="ttl must be an int"):
        b().create("/x", ttl=ttl)


@pytest.mark.parametrize("name", ["exists", "get", "get_children"])
@pytest.mark.parametrize("watch", [1, "callback", object()])
def test_read_watch_must_be_callable(name: str, watch: Any) -> None:
    with pytest.raises(TypeError, match="watch must be callable"):
        getattr(b(), name)("/x", watch)


def test_get_children_include_data_must_be_bool() -> None:
    with pytest.raises(TypeError, match="include_data must be a bool"):
        b().get_children("/x", include_data=1)


def test_add_watch_validation() -> None:
    with pytest.raises(TypeError, match="watch must be callable"):
        b().add_watch("/x", None, AddWatchMode.PERSISTENT)
    with pytest.raises(TypeError, match="mode must be an int"):
        b().add_watch("/x", watcher, "0")
    with pytest.raises(TypeError, match="mode must be an int"):
        b().add_watch("/x", watcher, True)
    for mode in (2, -1):
        with pytest.raises(ValueError, match="mode must be an AddWatchMode"):
            b().add_watch("/x", watcher, mode)


def test_remove_all_watches_validation() -> None:
    with pytest.raises(TypeError, match="watcher_type must be an int"):
        b().remove_all_watches("/x", "1")
    for bad in (0, 6):
        with pytest.raises(ValueError, match="watcher_type must be a WatcherType"):
            b().remove_all_watches("/x", bad)


@pytest.mark.parametrize("version", ["1", 1.0, None, True])
def test_versions_must_be_int(version: Any) -> None:
    with pytest.raises(TypeError, match="version must be an int"):
        b().set("/x", b"", version)
    with pytest.raises(TypeError, match="version must be an int"):
        b().delete("/x", version)
    with pytest.raises(TypeError, match="version must be an int"):
        b().set_acls("/x", OPEN_ACL_UNSAFE, version)


def test_other_argument_checks() -> None:
    with pytest.raises(TypeError, match="scheme must be a str"):
        b().auth(b"digest", "u:p")
    with pytest.raises(TypeError, match="credential must be a str"):
        b().auth("digest", b"u:p")
    with pytest.raises(TypeError, match="joining must be a str"):
        b().reconfig(5, None, None)
    with pytest.raises(TypeError, match="from_config must be an int"):
        b().reconfig(None, None, "m", "1")
    with pytest.raises(TypeError, match="prefix must be a str"):
        b().get_ephemerals(5)
    with pytest.raises(ValueError, match="prefix must start with '/'"):
        b().get_ephemerals("x")
    with pytest.raises(TypeError, match="path must be a str"):
        b().create(None)


# =========================================================================== requests


def test_read_requests_and_watch_specs() -> None:
    ops = b()
    assert ops.exists("/x") == Op(ser.Exists("/x", False))
    assert ops.exists("/x", watcher) == Op(
        ser.Exists("/x", True), None, (watcher, WatchKind.DATA, WatchKind.EXIST)
    )
    assert ops.get("/x") == Op(ser.GetData("/x", False))
    assert ops.get("/x", watcher) == Op(
        ser.GetData("/x", True), None, (watcher, WatchKind.DATA, None)
    )
    assert ops.get_children("/x") == Op(ser.GetChildren("/x", False))
    assert ops.get_children("/x", watcher, include_data=True) == Op(
        ser.GetChildren2("/x", True), None, (watcher, WatchKind.CHILD, None)
    )


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (AddWatchMode.PERSISTENT, WatchKind.PERSISTENT),
        (AddWatchMode.PERSISTENT_RECURSIVE, WatchKind.PERSISTENT_RECURSIVE),
        (0, WatchKind.PERSISTENT),
        (1, WatchKind.PERSISTENT_RECURSIVE),
    ],
)
def test_add_watch_request_and_spec(mode: int, kind: WatchKind) -> None:
    op = b("/app").add_watch("/x", watcher, mode)
    assert op.request == ser.AddWatch("/app/x", int(mode))
    assert op.watch == (watcher, kind, None)


@pytest.mark.parametrize("wt", list(WatcherType))
def test_remove_all_watches_request(wt: WatcherType) -> None:
    assert b("/app").remove_all_watches("/x", wt).request == ser.RemoveWatches("/app/x", int(wt))


def test_simple_write_requests() -> None:
    ops = b()
    assert ops.set("/x", b"v", 3).request == ser.SetData("/x", b"v", 3)
    assert ops.delete("/x").request == ser.Delete("/x", -1)
    assert ops.set_acls("/x", CUSTOM_ACL, 2).request == ser.SetACL("/x", CUSTOM_ACL, 2)
    assert ops.auth("digest", "u:p").request == ser.Auth(0, "digest", b"u:p")
    assert ops.whoami().request == ser.WhoAmI()
    assert ops.reconfig("a", None, None).request == ser.Reconfig("a", None, None, -1)


# chroot on every path ----------------------------------------------------------

PATH_BUILDERS: dict[str, Callable[[Builders, str], Op]] = {
    "create": lambda o, p: o.create(p),
    "create_ttl": lambda o, p: o.create(p, ttl=10),
    "create_container": lambda o, p: o.create(p, container=True),
    "exists": lambda o, p: o.exists(p),
    "get": lambda o, p: o.get(p),
    "get_children": lambda o, p: o.get_children(p),
    "get_children2": lambda o, p: o.get_children(p, include_data=True),
    "set": lambda o, p: o.set(p, b""),
    "delete": lambda o, p: o.delete(p),
    "get_acls": lambda o, p: o.get_acls(p),
    "set_acls": lambda o, p: o.set_acls(p, OPEN_ACL_UNSAFE),
    "sync": lambda o, p: o.sync(p),
    "add_watch": lambda o, p: o.add_watch(p, watcher, AddWatchMode.PERSISTENT),
    "remove_all_watches": lambda o, p: o.remove_all_watches(p, WatcherType.ANY),
    "get_all_children_number": lambda o, p: o.get_all_children_number(p),
}


@pytest.mark.parametrize("name", sorted(PATH_BUILDERS))
@pytest.mark.parametrize(("path", "server"), [("/x/y", "/app/x/y"), ("/", "/app")])
def test_chroot_is_applied_to_every_path(name: str, path: str, server: str) -> None:
    op = PATH_BUILDERS[name](b("/app"), path)
    assert op.request.path == server
    assert PATH_BUILDERS[name](b(), path).request.path == path


@pytest.mark.parametrize("name", sorted(PATH_BUILDERS))
def test_every_path_is_validated(name: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        PATH_BUILDERS[name](b("/app"), "/x//y")


def test_get_ephemerals_prefix_gets_the_chroot() -> None:
    assert b().get_ephemerals("/e").request == ser.GetEphemerals("/e")
    assert b("/app").get_ephemerals("/e").request == ser.GetEphemerals("/app/e")
    assert b("/app").get_ephemerals().request.prefix.startswith("/app")


# results come back without the chroot ---------------------------------------------


def test_create_result_is_unchrooted() -> None:
    op = b("/app").create("/q/n-", sequence=True)
    assert op.post is not None
    assert op.post(("/app/q/n-0000000003", None)) == "/q/n-0000000003"
    op = b("/app").create("/x", include_data=True)
    assert op.post is not None
    assert op.post(("/app/x", STAT)) == ("/x", STAT)
    op = b().create("/x", include_data=True)
    assert op.post is not None
    assert op.post(("/x", STAT)) == ("/x", STAT)


def test_sync_result_is_unchrooted() -> None:
    op = b("/app").sync("/")
    assert op.post is not None
    assert op.post("/app") == "/"
    assert op.post("/app/z") == "/z"


def test_get_ephemerals_filters_unchroots_and_sorts() -> None:
    op = b("/app").get_ephemerals("/")
    assert op.post is not None
    server_says = ["/app/z", "/apple/x", "/other/e", "/app/a/b", "/app/a", "/app"]
    assert op.post(server_says) == ["/", "/a", "/a/b", "/z"]
    op = b().get_ephemerals("/")
    assert op.post is not None
    assert op.post(["/b", "/a/c", "/a"]) == ["/a", "/a/c", "/b"]
    assert op.post([]) == []


def test_transaction_results_are_unchrooted() -> None:
    ops = b("/app")
    records = [ops.create("/a").request, ops.delete("/b").request, ops.set("/c", b"").request]
    op = ops.transaction(records)
    assert op.request == ser.Transaction(records)
    assert [r.path for r in op.request.operations] == ["/app/a", "/app/b", "/app/c"]
    assert op.post is not None
    assert op.post(["/app/a", True, STAT]) == ["/a", True, STAT]
    errors = [RolledBackError(), BadVersionError(), RolledBackError()]
    assert op.post(errors) == errors


# create opcodes and flags -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "opcode", "flags", "ttl"),
    [
        ({}, 1, 0, -1),
        ({"ephemeral": True}, 1, 1, -1),
        ({"sequence": True}, 1, 2, -1),
        ({"ephemeral": True, "sequence": True}, 1, 3, -1),
        ({"include_data": True}, 15, 0, -1),
        ({"include_data": True, "ephemeral": True, "sequence": True}, 15, 3, -1),
        ({"container": True}, 19, 4, -1),
        ({"container": True, "include_data": True}, 19, 4, -1),
        ({"ttl": 5000}, 21, 5, 5000),
        ({"ttl": 5000, "sequence": True}, 21, 6, 5000),
        ({"ttl": 5000, "include_data": True}, 21, 5, 5000),
    ],
)
def test_create_opcode_and_flags(kwargs: dict[str, Any], opcode: int, flags: int, ttl: int) -> None:
    request = b().create("/x/n", b"v", **kwargs).request
    assert (request.type, request.flags, request.ttl) == (opcode, flags, ttl)
    body = request.serialize()
    if opcode == 21:
        assert body[-12:] == struct.pack(">iq", flags, ttl)
    else:
        assert body[-4:] == struct.pack(">i", flags)


# =========================================================================== generators


class Step:
    """What a stepper saw: the op's kind and server path."""

    @staticmethod
    def of(op: Op) -> tuple[str, str]:
        return type(op.request).__name__, op.request.path


def run(gen: OpGenerator, answer: Callable[[Op], Any]) -> tuple[list[tuple[str, str]], Any]:
    """A blocking stepper: ``answer`` returns the op's result or an exception to throw."""
    seen: list[tuple[str, str]] = []
    try:
        op = next(gen)
        while True:
            assert len(seen) < 500, "runaway generator"
            seen.append(Step.of(op))
            result = answer(op)
            op = gen.throw(result) if isinstance(result, Exception) else gen.send(result)
    except StopIteration as done:
        return seen, done.value


def scripted(*results: Any) -> Callable[[Op], Any]:
    queue = list(results)

    def answer(op: Op) -> Any:
        return queue.pop(0)

    return answer


# ensure_path --------------------------------------------------------------------


def test_ensure_path_existing_node_is_true() -> None:
    seen, value = run(b("/app").ensure_path("/a/b"), scripted(STAT))
    assert seen == [("Exists", "/app/a/b")]
    assert value is True


def test_ensure_path_exists_op_sets_no_watch() -> None:
    op = next(b().ensure_path("/a"))
    assert op.watch is None and op.request.watch is False


def recording(answer: Callable[[Op], Any], created: list[Any]) -> Callable[[Op], Any]:
    def wrapped(op: Op) -> Any:
        if isinstance(op.request, ser.Create):
            created.append(op.request)
        return answer(op)

    return wrapped


def test_ensure_path_creates_missing_ancestors_top_down() -> None:
    created: list[ser.Create] = []
    answers = scripted(None, NoNodeError(), NoNodeError(), "/a", "/a/b", "/a/b/c")
    seen, value = run(b("/app").ensure_path("/a/b/c"), recording(answers, created))
    assert seen == [
        ("Exists", "/app/a/b/c"),
        ("Create", "/app/a/b/c"),
        ("Create", "/app/a/b"),
        ("Create", "/app/a"),
        ("Create", "/app/a/b"),
        ("Create", "/app/a/b/c"),
    ]
    assert value == "/a/b/c"  # the path it created
    assert all(c.flags == 0 and c.data == b"" and c.type == 1 for c in created)
    assert all(c.acl == DEFAULT_ACL for c in created)


def test_ensure_path_uses_the_given_acl_for_every_node() -> None:
    created: list[ser.Create] = []
    answers = scripted(None, NoNodeError(), "/a", "/a/b")
    seen, value = run(b().ensure_path("/a/b", acl=CUSTOM_ACL), recording(answers, created))
    assert [s[0] for s in seen] == ["Exists", "Create", "Create", "Create"]
    assert value == "/a/b"
    assert [c.acl for c in created] == [CUSTOM_ACL] * 3


def test_ensure_path_concurrent_creator_is_true() -> None:
    seen, value = run(b().ensure_path("/a/b"), scripted(None, NodeExistsError()))
    assert seen == [("Exists", "/a/b"), ("Create", "/a/b")]
    assert value is True


def test_ensure_path_concurrent_creator_of_an_ancestor() -> None:
    seen, value = run(
        b().ensure_path("/a/b"), scripted(None, NoNodeError(), NodeExistsError(), "/a/b")
    )
    assert seen == [("Exists", "/a/b"), ("Create", "/a/b"), ("Create", "/a"), ("Create", "/a/b")]
    assert value == "/a/b"


def test_ensure_path_root() -> None:
    seen, value = run(b("/app").ensure_path("/"), scripted(STAT))
    assert seen == [("Exists", "/app")]
    assert value is True


def test_ensure_path_root_under_a_missing_chroot_does_not_claim_it_existed() -> None:
    gen = b("/app").ensure_path("/")
    assert Step.of(next(gen)) == ("Exists", "/app")
    try:
        op = gen.send(None)  # the chroot node is missing
    except StopIteration as done:
        pytest.fail(f"ensure_path returned {done.value!r} for a node that does not exist")
    except NoNodeError:
        return  # refusing is acceptable: the chroot must exist
    assert Step.of(op) == ("Create", "/app")


def test_ensure_path_other_errors_propagate() -> None:
    with pytest.raises(NoAuthError):
        run(b().ensure_path("/a"), scripted(None, NoAuthError()))


def test_ensure_path_validates_when_called() -> None:
    with pytest.raises(ValueError, match="must not end with '/'"):
        b().ensure_path("/a/")


# create(makepath=True) -------------------------------------------------------------


def test_create_makepath_without_missing_parent_is_one_op() -> None:
    ops = b()
    op = ops.create("/a/b", b"v")
    gen = ops.create_makepath(op, "/a/b", None)
    assert next(gen) is op
    with pytest.raises(StopIteration) as done:
        gen.send("/a/b")
    assert done.value.value == "/a/b"


def test_create_makepath_makes_parents_then_retries_the_same_op() -> None:
    ops = b("/app")
    op = ops.create("/a/b/n-", b"v", ephemeral=True, sequence=True)
    gen = ops.create_makepath(op, "/a/b/n-", None)
    assert next(gen) is op
    parent = gen.throw(NoNodeError())
    assert Step.of(parent) == ("Create", "/app/a/b")
    assert (parent.request.flags, parent.request.data) == (0, b"")  # plain persistent parents
    assert parent.request.acl == DEFAULT_ACL
    grandparent = gen.throw(NoNodeError())
    assert Step.of(grandparent) == ("Create", "/app/a")
    again = gen.send("/a")
    assert Step.of(again) == ("Create", "/app/a/b")
    retry = gen.send("/a/b")
    assert retry is op
    with pytest.raises(StopIteration) as done:
        gen.send("/a/b/n-0000000000")
    assert done.value.value == "/a/b/n-0000000000"


def test_create_makepath_parents_share_the_acl() -> None:
    ops = b()
    op = ops.create("/a/b", acl=CUSTOM_ACL)
    gen = ops.create_makepath(op, "/a/b", CUSTOM_ACL)
    next(gen)
    parent = gen.throw(NoNodeError())
    assert parent.request.acl == CUSTOM_ACL


def test_create_makepath_tolerates_a_concurrent_parent_creator() -> None:
    ops = b()
    op = ops.create("/a/b")
    seen, value = run(
        ops.create_makepath(op, "/a/b", None), scripted(NoNodeError(), NodeExistsError(), "/a/b")
    )
    assert seen == [("Create", "/a/b"), ("Create", "/a"), ("Create", "/a/b")]
    assert value == "/a/b"


def test_create_makepath_sequential_path_ending_in_slash() -> None:
    ops = b()
    op = ops.create("/q/", sequence=True)
    seen, value = run(
        ops.create_makepath(op, "/q/", None), scripted(NoNodeError(), "/q", "/q/0000000000")
    )
    assert seen == [("Create", "/q/"), ("Create", "/q"), ("Create", "/q/")]
    assert value == "/q/0000000000"


def test_create_makepath_other_errors_propagate() -> None:
    ops = b()
    op = ops.create("/a/b")
    with pytest.raises(NodeExistsError):
        run(ops.create_makepath(op, "/a/b", None), scripted(NodeExistsError()))


# recursive delete --------------------------------------------------------------------


def tree_answer(tree: dict[str, list[str]]) -> Callable[[Op], Any]:
    """Answer get_children / delete against a mutable tree of server paths."""

    def answer(op: Op) -> Any:
        path = op.request.path
        if isinstance(op.request, ser.GetChildren):
            if path not in tree:
                return NoNodeError()
            return list(tree[path])
        assert isinstance(op.request, ser.Delete)
        assert op.request.version == -1
        if path not in tree:
            return NoNodeError()
        if tree[path]:
            return NotEmptyError()
        del tree[path]
        parent = path.rsplit("/", 1)[0] or "/"
        tree[parent].remove(path.rsplit("/", 1)[1])
        return True

    return answer


def test_delete_recursive_is_depth_first() -> None:
    tree = {
        "/": ["app"],
        "/app": ["a"],
        "/app/a": ["b", "c"],
        "/app/a/b": ["x"],
        "/app/a/b/x": [],
        "/app/a/c": [],
    }
    seen, value = run(b("/app").delete_recursive("/a"), tree_answer(tree))
    assert seen == [
        ("GetChildren", "/app/a"),
        ("GetChildren", "/app/a/b"),
        ("GetChildren", "/app/a/b/x"),
        ("Delete", "/app/a/b/x"),
        ("Delete", "/app/a/b"),
        ("GetChildren", "/app/a/c"),
        ("Delete", "/app/a/c"),
        ("Delete", "/app/a"),
    ]
    assert value is True
    assert tree == {"/": ["app"], "/app": []}


def test_delete_recursive_missing_top_node_is_true() -> None:
    seen, value = run(b().delete_recursive("/gone"), scripted(NoNodeError()))
    assert seen == [("GetChildren", "/gone")]
    assert value is True


def test_delete_recursive_tolerates_nodes_vanishing_meanwhile() -> None:
    # /a has children b and c; b vanishes before we list it, c before we delete it,
    # and /a itself is gone by the time we delete it.
    seen, value = run(
        b().delete_recursive("/a"),
        scripted(["b", "c"], NoNodeError(), [], NoNodeError(), NoNodeError()),
    )
    assert seen == [
        ("GetChildren", "/a"),
        ("GetChildren", "/a/b"),
        ("GetChildren", "/a/c"),
        ("Delete", "/a/c"),
        ("Delete", "/a"),
    ]
    assert value is True


def test_delete_recursive_retries_when_a_child_appears() -> None:
    seen, value = run(
        b().delete_recursive("/a"),
        scripted([], NotEmptyError(), ["late"], [], True, True),
    )
    assert seen == [
        ("GetChildren", "/a"),
        ("Delete", "/a"),
        ("GetChildren", "/a"),
        ("GetChildren", "/a/late"),
        ("Delete", "/a/late"),
        ("Delete", "/a"),
    ]
    assert value is True


def test_delete_recursive_gives_up_after_repeated_not_empty() -> None:
    def answer(op: Op) -> Any:
        return [] if isinstance(op.request, ser.GetChildren) else NotEmptyError()

    with pytest.raises(NotEmptyError):
        run(b().delete_recursive("/a"), answer)


def test_delete_recursive_root_keeps_the_root() -> None:
    tree = {"/": ["a", "b"], "/a": [], "/b": []}
    seen, value = run(b().delete_recursive("/"), tree_answer(tree))
    assert seen == [
        ("GetChildren", "/"),
        ("GetChildren", "/a"),
        ("Delete", "/a"),
        ("GetChildren", "/b"),
        ("Delete", "/b"),
    ]
    assert value is True
    assert tree == {"/": []}


def test_delete_recursive_other_errors_propagate() -> None:
    with pytest.raises(NoAuthError):
        run(b().delete_recursive("/a"), scripted([], NoAuthError()))


def test_delete_recursive_validates_before_the_first_op() -> None:
    with pytest.raises(ValueError, match="invalid path"):
        next(b().delete_recursive("a"))
