"""Every public KazooClient operation against real ZooKeeper: success and each documented error."""

from __future__ import annotations

import re
import threading

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    InvalidACLError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState, ZnodeStat
from kazoo.retry import ForceRetryError
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    ClientInfo,
    Id,
    Permissions,
    make_digest_acl,
)

pytestmark = pytest.mark.integration

WAIT = 15.0
SEQ = re.compile(r"\d{10}")


# --------------------------------------------------------------------------- create


def test_create_plain_returns_path_and_stores_value(zk_client: KazooClient) -> None:
    assert zk_client.create("/plain", b"hello") == "/plain"
    data, stat = zk_client.get("/plain")
    assert data == b"hello"
    assert isinstance(stat, ZnodeStat)
    assert (stat.version, stat.dataLength, stat.ephemeralOwner) == (0, 5, 0)


def test_create_default_value_is_empty_bytes(zk_client: KazooClient) -> None:
    zk_client.create("/empty")
    assert zk_client.get("/empty")[0] == b""


def test_create_ephemeral_is_owned_by_the_session(zk_client: KazooClient) -> None:
    assert zk_client.create("/eph", b"e", ephemeral=True) == "/eph"
    stat = zk_client.exists("/eph")
    assert stat is not None
    assert stat.ephemeralOwner == zk_client.client_id[0]
    assert stat.owner_session_id == zk_client.client_id[0]


def test_create_sequence_appends_increasing_ten_digit_counter(zk_client: KazooClient) -> None:
    zk_client.create("/seq")
    first = zk_client.create("/seq/item-", b"1", sequence=True)
    second = zk_client.create("/seq/item-", b"2", sequence=True)
    assert first.startswith("/seq/item-") and SEQ.fullmatch(first[len("/seq/item-") :])
    assert second.startswith("/seq/item-") and SEQ.fullmatch(second[len("/seq/item-") :])
    assert int(second[-10:]) > int(first[-10:])
    assert zk_client.get(first)[0] == b"1"


def test_create_sequence_with_trailing_slash_makes_a_child(zk_client: KazooClient) -> None:
    zk_client.create("/queue")
    path = zk_client.create("/queue/", b"x", sequence=True)
    assert path.startswith("/queue/") and SEQ.fullmatch(path[len("/queue/") :])
    assert zk_client.get_children("/queue") == [path[len("/queue/") :]]


def test_create_ephemeral_sequential(zk_client: KazooClient) -> None:
    path = zk_client.create("/es-", ephemeral=True, sequence=True)
    assert SEQ.fullmatch(path[len("/es-") :])
    assert zk_client.exists(path).ephemeralOwner == zk_client.client_id[0]


def test_create_makepath_creates_missing_parents(zk_client: KazooClient) -> None:
    assert zk_client.create("/mp/a/b", b"leaf", makepath=True) == "/mp/a/b"
    assert zk_client.get("/mp/a/b")[0] == b"leaf"
    assert zk_client.get("/mp/a")[0] == b""
    assert zk_client.exists("/mp/a").ephemeralOwner == 0


def test_create_makepath_with_existing_parent(zk_client: KazooClient) -> None:
    zk_client.create("/mp2")
    assert zk_client.create("/mp2/x", makepath=True) == "/mp2/x"


def test_create_include_data_returns_path_and_stat(zk_client: KazooClient) -> None:
    path, stat = zk_client.create("/inc", b"abc", include_data=True)
    assert path == "/inc"
    assert isinstance(stat, ZnodeStat)
    assert stat == zk_client.exists("/inc")
    assert stat.dataLength == 3
    seq_path, seq_stat = zk_client.create("/inc/s-", sequence=True, include_data=True)
    assert SEQ.fullmatch(seq_path[len("/inc/s-") :])
    assert seq_stat.czxid > stat.czxid


def test_create_value_none_reads_back_none(zk_client: KazooClient) -> None:
    zk_client.create("/none", None)
    data, stat = zk_client.get("/none")
    assert data is None
    assert stat.dataLength == 0


def test_create_existing_node_raises_node_exists(zk_client: KazooClient) -> None:
    zk_client.create("/dup", b"first")
    with pytest.raises(NodeExistsError):
        zk_client.create("/dup", b"second")
    assert zk_client.get("/dup")[0] == b"first"


def test_create_without_parent_raises_no_node(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.create("/missing/child")
    assert zk_client.exists("/missing") is None


def test_create_under_ephemeral_raises_no_children_for_ephemerals(
    zk_client: KazooClient,
) -> None:
    zk_client.create("/eparent", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk_client.create("/eparent/child")


@pytest.mark.parametrize(
    "acl",
    [
        [],
        [ACL(Permissions.ALL, Id("ip", "not-an-ip-address"))],
        [ACL(Permissions.ALL, Id("auth", ""))],  # no authenticated identity to expand
    ],
    ids=["empty", "bad-ip", "auth-without-credentials"],
)
def test_create_with_bad_acl_raises_invalid_acl(zk_client: KazooClient, acl: list) -> None:
    with pytest.raises(InvalidACLError):
        zk_client.create("/badacl", acl=acl)
    assert zk_client.exists("/badacl") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"value": "a str"},
        {"value": 5},
        {"acl": ACL(Permissions.ALL, Id("world", "anyone"))},
        {"acl": [("world", "anyone")]},
        {"ephemeral": 1},
        {"sequence": "yes"},
        {"makepath": 1},
        {"include_data": None},
    ],
    ids=[
        "str-value",
        "int-value",
        "bare-acl",
        "tuple-in-acl",
        "ephemeral-int",
        "sequence-str",
        "makepath-int",
        "include_data-none",
    ],
)
def test_create_type_errors_are_raised_synchronously(zk_client: KazooClient, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        zk_client.create("/typed", **kwargs)
    with pytest.raises(TypeError):
        zk_client.create_async("/typed", **kwargs)  # raised by the call, not by .get()
    assert zk_client.exists("/typed") is None


def test_create_uses_default_acl(make_client, zk_client: KazooClient) -> None:
    client = make_client(default_acl=READ_ACL_UNSAFE)
    client.create("/ro")
    assert zk_client.get_acls("/ro")[0] == READ_ACL_UNSAFE
    assert zk_client.create("/open") == "/open"
    assert zk_client.get_acls("/open")[0] == OPEN_ACL_UNSAFE


# --------------------------------------------------------------------------- ensure_path


def test_ensure_path_returns_path_when_created_and_true_when_it_existed(
    zk_client: KazooClient,
) -> None:
    created = zk_client.ensure_path("/ep/a/b")
    assert created == "/ep/a/b"
    assert created is not True
    assert zk_client.exists("/ep/a/b") is not None
    assert zk_client.ensure_path("/ep/a/b") is True
    assert zk_client.ensure_path("/ep/a") is True
    assert zk_client.ensure_path("/") is True


def test_ensure_path_with_acl(zk_client: KazooClient) -> None:
    acl = [
        make_digest_acl("alice", "secret", read=True),
        ACL(Permissions.ALL, Id("world", "anyone")),
    ]
    zk_client.ensure_path("/epacl/x", acl=acl)
    assert sorted(zk_client.get_acls("/epacl/x")[0]) == sorted(acl)
    assert sorted(zk_client.get_acls("/epacl")[0]) == sorted(acl)


# --------------------------------------------------------------------------- reads


def test_exists_returns_stat_or_none(zk_client: KazooClient) -> None:
    assert zk_client.exists("/nope") is None
    zk_client.create("/yes", b"12")
    stat = zk_client.exists("/yes")
    assert isinstance(stat, ZnodeStat)
    assert stat.dataLength == 2
    assert stat.numChildren == 0


def test_get_missing_raises_no_node(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.get("/nope")


def test_get_children_lists_names_and_include_data(zk_client: KazooClient) -> None:
    zk_client.create("/kids")
    for name in ("c", "a", "b"):
        zk_client.create(f"/kids/{name}")
    assert sorted(zk_client.get_children("/kids")) == ["a", "b", "c"]
    children, stat = zk_client.get_children("/kids", include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert isinstance(stat, ZnodeStat)
    assert stat.numChildren == 3
    assert zk_client.get_children("/kids/a") == []


def test_get_children_missing_raises_no_node(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.get_children("/nope")
    with pytest.raises(NoNodeError):
        zk_client.get_children("/nope", include_data=True)


# --------------------------------------------------------------------------- set / delete


def test_set_updates_value_and_version(zk_client: KazooClient) -> None:
    zk_client.create("/s", b"0")
    stat = zk_client.set("/s", b"1")
    assert isinstance(stat, ZnodeStat)
    assert stat.version == 1
    stat = zk_client.set("/s", b"2", version=1)
    assert stat.version == 2
    assert zk_client.get("/s") == (b"2", stat)


def test_set_wrong_version_raises_bad_version(zk_client: KazooClient) -> None:
    zk_client.create("/s", b"0")
    with pytest.raises(BadVersionError):
        zk_client.set("/s", b"x", version=5)
    assert zk_client.get("/s")[0] == b"0"


def test_set_missing_raises_no_node(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.set("/nope", b"x")


def test_delete_returns_true(zk_client: KazooClient) -> None:
    zk_client.create("/d")
    assert zk_client.delete("/d") is True
    assert zk_client.exists("/d") is None


def test_delete_with_version(zk_client: KazooClient) -> None:
    zk_client.create("/d")
    zk_client.set("/d", b"x")
    with pytest.raises(BadVersionError):
        zk_client.delete("/d", version=0)
    assert zk_client.exists("/d") is not None
    assert zk_client.delete("/d", version=1) is True


def test_delete_errors(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.delete("/nope")
    zk_client.create("/full/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk_client.delete("/full")
    assert zk_client.exists("/full/child") is not None


def test_delete_recursive(zk_client: KazooClient) -> None:
    for path in ("/tree/a/x", "/tree/a/y", "/tree/b"):
        zk_client.create(path, makepath=True)
    assert zk_client.delete("/tree", recursive=True) is True
    assert zk_client.exists("/tree") is None
    assert zk_client.delete("/tree", recursive=True) is True  # missing top node
    assert zk_client.delete_async("/tree", recursive=True).get(timeout=WAIT) is True


# --------------------------------------------------------------------------- ACLs, sync


def test_get_acls_returns_acl_list_and_stat(zk_client: KazooClient) -> None:
    zk_client.create("/acl")
    acls, stat = zk_client.get_acls("/acl")
    assert acls == OPEN_ACL_UNSAFE
    assert isinstance(stat, ZnodeStat)
    with pytest.raises(NoNodeError):
        zk_client.get_acls("/nope")


def test_set_acls_version_is_the_acl_version(zk_client: KazooClient) -> None:
    zk_client.create("/acl")
    zk_client.set("/acl", b"v1")  # data version 1, acl version still 0
    new_acl = [
        make_digest_acl("alice", "secret", all=True),
        ACL(Permissions.READ, Id("world", "anyone")),
    ]
    with pytest.raises(BadVersionError):
        zk_client.set_acls("/acl", new_acl, version=1)
    stat = zk_client.set_acls("/acl", new_acl, version=0)
    assert isinstance(stat, ZnodeStat)
    assert (stat.aversion, stat.version) == (1, 1)
    # digest hashes are shown only to a client with ADMIN permission on the node
    zk_client.add_auth("digest", "alice:secret")
    assert sorted(zk_client.get_acls("/acl")[0]) == sorted(new_acl)


def test_set_acls_errors(zk_client: KazooClient) -> None:
    with pytest.raises(NoNodeError):
        zk_client.set_acls("/nope", OPEN_ACL_UNSAFE)
    zk_client.create("/acl")
    with pytest.raises(InvalidACLError):
        zk_client.set_acls("/acl", [ACL(Permissions.ALL, Id("ip", "not-an-ip-address"))])
    with pytest.raises(TypeError):
        zk_client.set_acls("/acl", OPEN_ACL_UNSAFE[0])
    assert zk_client.get_acls("/acl")[0] == OPEN_ACL_UNSAFE


def test_sync_returns_the_path(zk_client: KazooClient) -> None:
    zk_client.create("/synced")
    assert zk_client.sync("/synced") == "/synced"
    assert zk_client.sync("/") == "/"


# --------------------------------------------------------------------------- *_async twins


def _is_async_result(client: KazooClient, result: object) -> bool:
    return type(result) is type(client.handler.async_result()) and all(
        callable(getattr(result, name, None))
        for name in ("get", "ready", "successful", "rawlink", "wait")
    )


ASYNC_SUCCESS = [
    ("create", ("/a/new", b"v"), {}, "/a/new"),
    ("create", ("/a/deep/er", b"v"), {"makepath": True}, "/a/deep/er"),
    ("ensure_path", ("/a/ens",), {}, "/a/ens"),
    ("ensure_path", ("/a",), {}, True),
    ("exists", ("/a/none",), {}, None),
    ("get", ("/a",), {}, (b"data", "stat")),
    ("get_children", ("/a/kids",), {}, ["k"]),
    ("get_children", ("/a/kids",), {"include_data": True}, (["k"], "stat")),
    ("set", ("/a", b"new"), {}, "stat"),
    ("delete", ("/a/kids/k",), {}, True),
    ("delete", ("/a/kids",), {"recursive": True}, True),
    ("get_acls", ("/a",), {}, (OPEN_ACL_UNSAFE, "stat")),
    ("set_acls", ("/a", OPEN_ACL_UNSAFE), {"version": 0}, "stat"),
    ("sync", ("/a",), {}, "/a"),
    ("get_ephemerals", ("/a",), {}, ["/a/eph"]),
    ("get_all_children_number", ("/a",), {}, 3),
    ("add_watch", ("/a", lambda event: None, 0), {}, True),
    ("whoami", (), {}, [ClientInfo("ip", "127.0.0.1")]),
    ("add_auth", ("digest", "alice:secret"), {}, True),
]


def _matches(expected: object, actual: object) -> bool:
    if expected == "stat":
        return isinstance(actual, ZnodeStat)
    if isinstance(expected, tuple):
        return (
            isinstance(actual, tuple)
            and len(actual) == len(expected)
            and all(_matches(e, a) for e, a in zip(expected, actual))
        )
    return expected == actual and type(expected) is type(actual)


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "expected"),
    ASYNC_SUCCESS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(ASYNC_SUCCESS)],
)
def test_async_twin_returns_async_result_with_value(
    zk_client: KazooClient, name: str, args: tuple, kwargs: dict, expected: object
) -> None:
    zk_client.create("/a", b"data")
    zk_client.create("/a/kids/k", makepath=True)
    zk_client.create("/a/eph", ephemeral=True)
    result = getattr(zk_client, name + "_async")(*args, **kwargs)
    assert _is_async_result(zk_client, result)
    value = result.get(timeout=WAIT)
    assert result.successful()
    assert _matches(expected, value), value


ASYNC_ERRORS = [
    ("create", ("/a",), {}, NodeExistsError),
    ("create", ("/missing/x",), {}, NoNodeError),
    ("get", ("/missing",), {}, NoNodeError),
    ("get_children", ("/missing",), {}, NoNodeError),
    ("set", ("/a", b"x"), {"version": 9}, BadVersionError),
    ("set", ("/missing", b"x"), {}, NoNodeError),
    ("delete", ("/a",), {}, NotEmptyError),
    ("delete", ("/a/kid",), {"version": 9}, BadVersionError),
    ("delete", ("/missing",), {}, NoNodeError),
    ("get_acls", ("/missing",), {}, NoNodeError),
    ("set_acls", ("/a", OPEN_ACL_UNSAFE), {"version": 9}, BadVersionError),
    ("get_all_children_number", ("/missing",), {}, NoNodeError),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "error"),
    ASYNC_ERRORS,
    ids=[f"{c[0]}-{c[3].__name__}-{i}" for i, c in enumerate(ASYNC_ERRORS)],
)
def test_async_twin_holds_the_same_exception(
    zk_client: KazooClient, name: str, args: tuple, kwargs: dict, error: type
) -> None:
    zk_client.create("/a/kid", makepath=True)
    with pytest.raises(error):
        getattr(zk_client, name)(*args, **kwargs)
    result = getattr(zk_client, name + "_async")(*args, **kwargs)
    assert _is_async_result(zk_client, result)
    assert result.wait(WAIT)
    assert not result.successful()
    assert type(result.exception) is error
    with pytest.raises(error):
        result.get(timeout=WAIT)


def test_async_result_rawlink_runs_on_completion(zk_client: KazooClient) -> None:
    zk_client.create("/rl", b"x")
    done = threading.Event()
    seen = []

    def callback(result):
        seen.append(result.value)
        done.set()

    zk_client.get_async("/rl").rawlink(callback)
    assert done.wait(WAIT)
    assert seen[0][0] == b"x"


# --------------------------------------------------------------------------- transactions


def test_transaction_success_results(zk_client: KazooClient) -> None:
    zk_client.create("/t", b"0")
    zk_client.create("/t/gone")
    tx = zk_client.transaction()
    tx.create("/t/new", b"n")
    tx.delete("/t/gone")
    tx.set_data("/t", b"1", version=0)
    tx.check("/t/new", 0)
    results = tx.commit()
    assert len(results) == 4
    assert results[0] == "/t/new"
    assert results[1] is True
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    assert results[3] is True
    assert tx.committed
    assert zk_client.get("/t")[0] == b"1"
    assert zk_client.exists("/t/gone") is None


def test_transaction_sequence_create_returns_chroot_relative_path(zk_client: KazooClient) -> None:
    zk_client.create("/tq")
    tx = zk_client.transaction()
    tx.create("/tq/item-", b"", sequence=True)
    (path,) = tx.commit()
    assert path.startswith("/tq/item-") and SEQ.fullmatch(path[len("/tq/item-") :])
    assert zk_client.exists(path) is not None


def test_transaction_failure_applies_nothing_and_reports_instances(
    zk_client: KazooClient,
) -> None:
    zk_client.create("/t", b"0")
    tx = zk_client.transaction()
    tx.create("/t/new")
    tx.set_data("/t", b"1", version=7)  # wrong version: this one fails
    tx.delete("/t")
    results = tx.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert all(isinstance(r, Exception) for r in results)
    assert zk_client.exists("/t/new") is None
    assert zk_client.get("/t")[0] == b"0"


def test_transaction_failing_first_op_reports_its_error(zk_client: KazooClient) -> None:
    zk_client.create("/t")
    tx = zk_client.transaction()
    tx.check("/missing", -1)
    tx.create("/t/a")
    tx.create("/t")  # would fail too, but is never evaluated
    results = tx.commit()
    assert [type(r) for r in results] == [NoNodeError, RuntimeInconsistency, RuntimeInconsistency]
    assert zk_client.get_children("/t") == []


def test_transaction_commit_async(zk_client: KazooClient) -> None:
    tx = zk_client.transaction()
    tx.create("/ta", b"x")
    result = tx.commit_async()
    assert _is_async_result(zk_client, result)
    assert result.get(timeout=WAIT) == ["/ta"]


def test_transaction_context_manager_commits(zk_client: KazooClient) -> None:
    with zk_client.transaction() as tx:
        tx.create("/cm", b"x")
        tx.create("/cm/child")
    assert tx.committed
    assert zk_client.exists("/cm/child") is not None


def test_transaction_context_manager_sends_nothing_when_the_block_raises(
    zk_client: KazooClient,
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with zk_client.transaction() as tx:
            tx.create("/cm")
            raise RuntimeError("boom")
    assert not tx.committed
    assert zk_client.exists("/cm") is None


def test_committed_transaction_rejects_more_work(zk_client: KazooClient) -> None:
    tx = zk_client.transaction()
    tx.create("/once")
    tx.commit()
    for call in (
        lambda: tx.create("/twice"),
        lambda: tx.delete("/once"),
        lambda: tx.set_data("/once", b""),
        lambda: tx.check("/once", 0),
        tx.commit,
        tx.commit_async,
    ):
        with pytest.raises(ValueError, match="Transaction already committed"):
            call()
    assert zk_client.exists("/twice") is None


def test_empty_transaction_returns_empty_list(zk_client: KazooClient) -> None:
    assert zk_client.transaction().commit() == []


def test_transaction_argument_errors(zk_client: KazooClient) -> None:
    tx = zk_client.transaction()
    with pytest.raises(TypeError):
        tx.create("/x", "str")
    with pytest.raises(TypeError):
        tx.set_data("/x", None)
    with pytest.raises(ValueError):
        tx.create("/x/")
    with pytest.raises(ValueError):
        tx.create("/x", container=True, ephemeral=True)
    assert tx.commit() == []


# --------------------------------------------------------------------------- path rules

BAD_PATHS = [
    ("//a", r"//|empty"),
    ("/a//b", r"//|empty"),
    ("/a/", r"end"),
    ("a/b", r"start"),
    ("", r"empty"),
    ("/a/./b", r"'\.'|\bdot"),
    ("/a/..", r"'\.'|\bdot"),
    ("/.", r"'\.'|\bdot"),
    ("/a\x00b", r"U\+0000|character"),
    ("/a\x1fb", r"U\+001F|character"),
    ("/a\x7fb", r"U\+007F|character"),
]


@pytest.mark.parametrize(("path", "rule"), BAD_PATHS, ids=[repr(p) for p, _ in BAD_PATHS])
def test_bad_paths_are_rejected_naming_the_rule(
    zk_client: KazooClient, path: str, rule: str
) -> None:
    calls = [
        lambda: zk_client.create(path),
        lambda: zk_client.create_async(path),
        lambda: zk_client.exists(path),
        lambda: zk_client.get_async(path),
        lambda: zk_client.get_children(path),
        lambda: zk_client.set(path, b""),
        lambda: zk_client.delete(path),
        lambda: zk_client.delete(path, recursive=True),
        lambda: zk_client.ensure_path(path),
        lambda: zk_client.get_acls(path),
        lambda: zk_client.sync(path),
        lambda: zk_client.transaction().check(path, 0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=rule):
            call()


ASYNC_PATH_CALLS = [
    pytest.param("create_async", (), {}, id="create_async"),
    pytest.param("create_async", (), {"makepath": True}, id="create_async-makepath"),
    pytest.param("ensure_path_async", (), {}, id="ensure_path_async"),
    pytest.param("exists_async", (), {}, id="exists_async"),
    pytest.param("get_async", (), {}, id="get_async"),
    pytest.param("get_children_async", (), {}, id="get_children_async"),
    pytest.param("set_async", (b"",), {}, id="set_async"),
    pytest.param("delete_async", (), {}, id="delete_async"),
    pytest.param("delete_async", (), {"recursive": True}, id="delete_async-recursive"),
    pytest.param("get_acls_async", (), {}, id="get_acls_async"),
    pytest.param("set_acls_async", (OPEN_ACL_UNSAFE,), {}, id="set_acls_async"),
    pytest.param("sync_async", (), {}, id="sync_async"),
    pytest.param("get_all_children_number_async", (), {}, id="get_all_children_number_async"),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ASYNC_PATH_CALLS)
def test_async_twins_raise_path_errors_synchronously(
    zk_client: KazooClient, name: str, args: tuple, kwargs: dict
) -> None:
    for path in ("a", "//a", "/a/", "/a/./b"):
        with pytest.raises(ValueError):
            getattr(zk_client, name)(path, *args, **kwargs)  # the call raises, not .get()


def test_dotted_names_are_valid(zk_client: KazooClient) -> None:
    assert zk_client.create("/.x") == "/.x"
    assert zk_client.create("/x.") == "/x."
    assert zk_client.create("/..y") == "/..y"


# --------------------------------------------------------------------------- chroot


def test_chroot_paths_are_relative(
    zk_client: KazooClient, make_client, servers: str, chroot: str
) -> None:
    assert zk_client.chroot == chroot
    assert zk_client.create("/c", b"x") == "/c"
    seq = zk_client.create("/c/s-", sequence=True)
    assert seq.startswith("/c/s-")
    assert zk_client.sync("/c") == "/c"
    root = make_client(servers)  # no chroot: sees where the nodes really are
    assert root.chroot == ""
    assert root.get(chroot + "/c")[0] == b"x"
    assert root.exists(chroot + seq) is not None
    assert root.exists("/c") is None
    assert zk_client.exists("/") == root.exists(chroot)


def test_unchroot(zk_client: KazooClient, chroot: str) -> None:
    assert zk_client.unchroot(chroot) == "/"
    assert zk_client.unchroot(chroot + "/a/b") == "/a/b"
    assert zk_client.unchroot("/elsewhere") == "/elsewhere"
    assert zk_client.unchroot(chroot + "x") == chroot + "x"  # a sibling, not inside


# --------------------------------------------------------------------------- large values


def test_value_near_one_mebibyte_round_trips(zk_client: KazooClient) -> None:
    value = bytes(range(256)) * 3906 + b"tail"  # 999,940 bytes
    assert len(value) > 999_900
    zk_client.create("/big", value)
    data, stat = zk_client.get("/big")
    assert data == value
    assert stat.dataLength == len(value)


def test_oversize_request_loses_the_connection_then_recovers(zk_client: KazooClient) -> None:
    states = []
    reconnected = threading.Event()

    def listener(state):
        states.append(state)
        if state == KazooState.CONNECTED:
            reconnected.set()

    zk_client.create("/big", b"small")
    session_id = zk_client.client_id[0]
    zk_client.add_listener(listener)
    with pytest.raises(ConnectionLoss):
        zk_client.set("/big", b"x" * (1024 * 1024 + 10))
    assert reconnected.wait(WAIT), states
    assert KazooState.SUSPENDED in states
    assert zk_client.get("/big")[0] == b"small"
    assert zk_client.client_id[0] == session_id
    assert zk_client.create("/after") == "/after"


# --------------------------------------------------------------------------- container, TTL


def _wait_deleted(client: KazooClient, path: str, timeout: float) -> bool:
    """Wait (bounded) for ``path`` to be deleted, using an exists watch."""
    gone = threading.Event()

    def watch(event):
        if event.type == EventType.DELETED:
            gone.set()
        elif event.type != EventType.NONE:
            if client.exists(path, watch=watch) is None:
                gone.set()

    if client.exists(path, watch=watch) is None:
        return True
    return gone.wait(timeout)


def test_container_node_goes_away_after_its_last_child(zk_client: KazooClient) -> None:
    assert zk_client.create("/box", container=True) == "/box"
    stat = zk_client.exists("/box")
    assert stat.ephemeralOwner == 0
    zk_client.create("/box/item")
    zk_client.delete("/box/item")
    assert _wait_deleted(zk_client, "/box", 20.0), "container node still present"


def test_container_node_with_children_stays(zk_client: KazooClient) -> None:
    zk_client.create("/box", container=True)
    zk_client.create("/box/a")
    zk_client.create("/box/b")
    zk_client.delete("/box/a")
    # the server's container check runs every second; a child keeps the node
    zk_client.create("/other", container=True)
    zk_client.create("/other/x")
    zk_client.delete("/other/x")
    assert _wait_deleted(zk_client, "/other", 20.0)
    assert zk_client.exists("/box") is not None


def test_ttl_node_expires_when_childless(zk_client: KazooClient) -> None:
    assert zk_client.create("/ttl", b"x", ttl=500) == "/ttl"
    assert zk_client.exists("/ttl").ephemeralOwner == 0
    assert _wait_deleted(zk_client, "/ttl", 20.0), "TTL node still present"


def test_ttl_sequential_node(zk_client: KazooClient) -> None:
    path = zk_client.create("/ttls-", ttl=60_000, sequence=True)
    assert SEQ.fullmatch(path[len("/ttls-") :])
    assert zk_client.exists(path).ephemeralOwner == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": 500, "ephemeral": True},
        {"ttl": 0},
        {"ttl": -1},
        {"ttl": 2**40},
        {"container": True, "sequence": True},
        {"container": True, "ephemeral": True},
        {"container": True, "ttl": 500},
    ],
    ids=[
        "ttl-ephemeral",
        "ttl-0",
        "ttl-negative",
        "ttl-2**40",
        "container-sequence",
        "container-ephemeral",
        "container-ttl",
    ],
)
def test_node_type_value_errors(zk_client: KazooClient, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        zk_client.create("/typed", **kwargs)
    with pytest.raises(ValueError):
        zk_client.create_async("/typed", **kwargs)
    assert zk_client.exists("/typed") is None


# --------------------------------------------------------------------------- 3.6+ reads


def test_get_ephemerals_prefix_sorted_and_session_scoped(
    zk_client: KazooClient, make_client
) -> None:
    zk_client.create("/e")
    for name in ("b", "ab", "a1"):
        zk_client.create(f"/e/{name}", ephemeral=True)
    zk_client.create("/e/persistent")
    other = make_client()
    other.create("/e/a-other", ephemeral=True)
    assert zk_client.get_ephemerals() == ["/e/a1", "/e/ab", "/e/b"]
    assert zk_client.get_ephemerals("/e/a") == ["/e/a1", "/e/ab"]
    assert zk_client.get_ephemerals("/e/ab") == ["/e/ab"]
    assert zk_client.get_ephemerals("/nothing") == []
    assert other.get_ephemerals("/e") == ["/e/a-other"]


def test_get_all_children_number(zk_client: KazooClient) -> None:
    for path in ("/n/a/b", "/n/c"):
        zk_client.create(path, makepath=True)
    assert zk_client.get_all_children_number("/n") == 3
    assert zk_client.get_all_children_number("/n/c") == 0
    with pytest.raises(NoNodeError):
        zk_client.get_all_children_number("/missing")


def test_whoami_lists_ip_and_digest_identities(zk_client: KazooClient) -> None:
    before = zk_client.whoami()
    assert ClientInfo("ip", "127.0.0.1") in before
    assert all(isinstance(info, ClientInfo) for info in before)
    assert zk_client.add_auth("digest", "alice:secret") is True
    after = zk_client.whoami()
    assert ClientInfo("digest", "alice") in after
    assert any(info.auth_scheme == "ip" for info in after)


# ------------------------------------------------------------------- four-letter words, retry


def test_command_ruok(zk_client: KazooClient) -> None:
    assert zk_client.command(b"ruok") == "imok"
    assert zk_client.command() == "imok"


def test_command_when_not_connected_raises_connection_loss(make_client) -> None:
    client = make_client(start=False)
    with pytest.raises(ConnectionLoss):
        client.command(b"ruok")


def test_server_version(zk_client: KazooClient) -> None:
    version = zk_client.server_version()
    assert isinstance(version, tuple)
    assert all(isinstance(part, int) for part in version)
    assert version[:2] == (3, 8)


def test_retry_repeats_on_force_retry(zk_client: KazooClient) -> None:
    calls = []

    def flaky(path, suffix=b""):
        calls.append(path)
        if len(calls) < 3:
            raise ForceRetryError()
        return zk_client.create(path, b"ok" + suffix)

    assert zk_client.retry(flaky, "/retried", suffix=b"!") == "/retried"
    assert calls == ["/retried"] * 3
    assert zk_client.get("/retried")[0] == b"ok!"


def test_retry_does_not_retry_other_errors(zk_client: KazooClient) -> None:
    calls = []

    def fails():
        calls.append(1)
        return zk_client.get("/missing")

    with pytest.raises(NoNodeError):
        zk_client.retry(fails)
    assert calls == [1]
