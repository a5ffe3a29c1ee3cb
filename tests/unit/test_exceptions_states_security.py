"""kazoo.exceptions, kazoo.protocol.states and kazoo.security against API.md sections 2.2-2.4."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazoo import exceptions
from kazoo.exceptions import (
    EXCEPTIONS,
    ConnectionClosedError,
    ConnectionDropped,
    KazooException,
    ProtocolError,
    SessionExpiredError,
    UnknownZookeeperError,
    ZookeeperError,
)
from kazoo.protocol.states import (
    EVENT_TYPE_MAP,
    AddWatchMode,
    Callback,
    EventType,
    KazooState,
    KeeperState,
    WatchedEvent,
    WatcherType,
    ZnodeStat,
)
from kazoo.security import (
    ACL,
    ANYONE_ID_UNSAFE,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    ClientInfo,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

# -- exceptions (2.4) ----------------------------------------------------------------------

CODE_TABLE = {
    0: "RolledBackError",
    -1: "SystemZookeeperError",
    -2: "RuntimeInconsistency",
    -3: "DataInconsistency",
    -4: "ConnectionLoss",
    -5: "MarshallingError",
    -6: "UnimplementedError",
    -7: "OperationTimeoutError",
    -8: "BadArgumentsError",
    -12: "UnknownSessionError",
    -13: "NewConfigNoQuorumError",
    -14: "ReconfigInProcessError",
    -100: "APIError",
    -101: "NoNodeError",
    -102: "NoAuthError",
    -103: "BadVersionError",
    -108: "NoChildrenForEphemeralsError",
    -110: "NodeExistsError",
    -111: "NotEmptyError",
    -112: "SessionExpiredError",
    -113: "InvalidCallbackError",
    -114: "InvalidACLError",
    -115: "AuthFailedError",
    -118: "SessionMovedError",
    -119: "NotReadOnlyCallError",
    -120: "EphemeralOnLocalSessionError",
    -121: "NoWatcherError",
    -122: "RequestTimeoutError",
    -123: "ReconfigDisabledError",
    -124: "SessionClosedRequireSaslError",
    -125: "QuotaExceededError",
    -127: "ThrottledOpError",
}

ALIASES = {
    "ConnectionLossException": "ConnectionLoss",
    "MarshallingErrorException": "MarshallingError",
    "SystemErrorException": "SystemZookeeperError",
    "RuntimeInconsistencyException": "RuntimeInconsistency",
    "DataInconsistencyException": "DataInconsistency",
    "UnimplementedException": "UnimplementedError",
    "OperationTimeoutException": "OperationTimeoutError",
    "BadArgumentsException": "BadArgumentsError",
    "ApiErrorException": "APIError",
    "NoNodeException": "NoNodeError",
    "NoAuthException": "NoAuthError",
    "BadVersionException": "BadVersionError",
    "NoChildrenForEphemeralsException": "NoChildrenForEphemeralsError",
    "NodeExistsException": "NodeExistsError",
    "InvalidACLException": "InvalidACLError",
    "AuthFailedException": "AuthFailedError",
    "NotEmptyException": "NotEmptyError",
    "SessionExpiredException": "SessionExpiredError",
    "InvalidCallbackException": "InvalidCallbackError",
}


@pytest.mark.parametrize(("code", "name"), sorted(CODE_TABLE.items()))
def test_every_code_maps_to_its_class(code: int, name: str) -> None:
    cls = getattr(exceptions, name)
    assert EXCEPTIONS[code] is cls
    assert cls.code == code
    assert cls.__bases__ == (ZookeeperError,)
    assert isinstance(cls(), KazooException)


def test_registry_holds_exactly_the_table() -> None:
    known = {
        code: cls for code, cls in EXCEPTIONS.items() if not issubclass(cls, UnknownZookeeperError)
    }
    assert known == {code: getattr(exceptions, name) for code, name in CODE_TABLE.items()}


@pytest.mark.parametrize(
    "name",
    [
        "ZookeeperError",
        "CancelledError",
        "ConfigurationError",
        "ZookeeperStoppedError",
        "ConnectionDropped",
        "LockTimeout",
        "WriterNotClosedException",
        "SASLException",
    ],
)
def test_direct_subclasses_of_the_root(name: str) -> None:
    assert getattr(exceptions, name).__bases__ == (KazooException,)


def test_root_and_protocol_error() -> None:
    assert KazooException.__bases__ == (Exception,)
    assert ProtocolError.__bases__ == (ConnectionDropped,)


def test_connection_closed_error() -> None:
    assert issubclass(ConnectionClosedError, SessionExpiredError)
    assert ConnectionClosedError.code == -112
    assert ConnectionClosedError not in EXCEPTIONS.values()
    assert EXCEPTIONS[-112] is SessionExpiredError


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_java_style_aliases_are_the_same_objects(alias: str, name: str) -> None:
    assert getattr(exceptions, alias) is getattr(exceptions, name)


@pytest.mark.parametrize("code", [-999, -9, 7, -126, -116])
def test_unknown_code_gives_a_cached_subclass(code: int) -> None:
    cls = EXCEPTIONS[code]
    assert issubclass(cls, UnknownZookeeperError)
    assert issubclass(UnknownZookeeperError, ZookeeperError)
    assert cls.code == code
    assert EXCEPTIONS[code] is cls
    assert str(code) in str(cls())
    with pytest.raises(ZookeeperError):
        raise cls()


@given(st.integers(-(2**31), 2**31 - 1).filter(lambda c: c not in CODE_TABLE))
def test_unknown_codes_property(code: int) -> None:
    cls = EXCEPTIONS[code]
    assert issubclass(cls, UnknownZookeeperError) and cls.code == code
    assert EXCEPTIONS[code] is cls


# -- states (2.2) --------------------------------------------------------------------------

ENUM_MEMBERS: dict[type[enum.Enum], set[str]] = {
    KazooState: {"CONNECTED", "SUSPENDED", "LOST"},
    KeeperState: {
        "AUTH_FAILED",
        "CONNECTED",
        "CONNECTED_RO",
        "CONNECTING",
        "CLOSED",
        "EXPIRED_SESSION",
    },
    EventType: {"CREATED", "DELETED", "CHANGED", "CHILD", "NONE"},
}


@pytest.mark.parametrize(
    ("enum_cls", "name"),
    [(cls, name) for cls, names in ENUM_MEMBERS.items() for name in sorted(names)],
)
def test_state_members_are_their_own_names(enum_cls: type, name: str) -> None:
    member = getattr(enum_cls, name)
    assert member == name
    assert isinstance(member, str)
    assert hash(member) == hash(name)
    assert str(member) == name
    assert format(member) == name
    assert f"{member}" == name
    assert f"{member:>20}" == f"{name:>20}"
    assert "%s" % member == name  # noqa: UP031 - old-style formatting must work too
    assert {name: 1}[member] == 1


def test_state_member_sets() -> None:
    for enum_cls, names in ENUM_MEMBERS.items():
        assert {str(m) for m in enum_cls} == names


def test_kazoo_state_lost() -> None:
    assert KazooState.LOST == "LOST"
    assert KazooState.LOST in ("LOST",)


def test_event_type_map() -> None:
    assert EVENT_TYPE_MAP == {
        -1: EventType.NONE,
        1: EventType.CREATED,
        2: EventType.DELETED,
        3: EventType.CHANGED,
        4: EventType.CHILD,
    }


def test_watched_event_and_callback() -> None:
    event = WatchedEvent(EventType.CREATED, KeeperState.CONNECTED, "/a")
    assert event._fields == ("type", "state", "path")
    assert event.path == "/a"
    assert event == (EventType.CREATED, KeeperState.CONNECTED, "/a")
    callback = Callback("watch", print, (1,))
    assert callback._fields == ("type", "func", "args")
    assert callback.type == "watch"


def test_watch_mode_and_watcher_type_ints() -> None:
    assert (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE) == (0, 1)
    assert (
        WatcherType.CHILDREN,
        WatcherType.DATA,
        WatcherType.ANY,
        WatcherType.PERSISTENT,
        WatcherType.PERSISTENT_RECURSIVE,
    ) == (1, 2, 3, 4, 5)
    assert isinstance(AddWatchMode.PERSISTENT, int)


def test_znode_stat() -> None:
    fields = (
        "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength "
        "numChildren pzxid"
    ).split()
    assert ZnodeStat._fields == tuple(fields)
    stat = ZnodeStat(1, 2, 1500, 2500, 3, 4, 5, 0x1234, 6, 7, 8)
    assert stat.creation_transaction_id == 1
    assert stat.last_modified_transaction_id == 2
    assert stat.created == 1.5
    assert stat.last_modified == 2.5
    assert stat.acl_version == 5
    assert stat.children_version == 4
    assert stat.owner_session_id == 0x1234
    assert stat.data_length == 6
    assert stat.children_count == 7
    assert stat._replace(ephemeralOwner=0).owner_session_id is None
    with pytest.raises(AttributeError):
        stat.created = 3.0  # type: ignore[misc]


# -- security (2.3) ------------------------------------------------------------------------


def test_permissions() -> None:
    assert (
        Permissions.READ,
        Permissions.WRITE,
        Permissions.CREATE,
        Permissions.DELETE,
        Permissions.ADMIN,
        Permissions.ALL,
    ) == (1, 2, 4, 8, 16, 31)


def test_ids_and_constants() -> None:
    assert Id("world", "anyone")._fields == ("scheme", "id")
    assert ANYONE_ID_UNSAFE == Id("world", "anyone")
    assert AUTH_IDS == Id("auth", "")
    assert OPEN_ACL_UNSAFE == [ACL(31, ANYONE_ID_UNSAFE)]
    assert CREATOR_ALL_ACL == [ACL(31, AUTH_IDS)]
    assert READ_ACL_UNSAFE == [ACL(1, ANYONE_ID_UNSAFE)]
    assert ClientInfo("digest", "alice")._fields == ("auth_scheme", "user")


@pytest.mark.parametrize(
    ("perms", "names"),
    [
        (31, ["ALL"]),
        (0, []),
        (1, ["READ"]),
        (16 | 1, ["READ", "ADMIN"]),
        (2 | 4 | 8, ["WRITE", "CREATE", "DELETE"]),
        (15, ["READ", "WRITE", "CREATE", "DELETE"]),
    ],
)
def test_acl_list(perms: int, names: list[str]) -> None:
    assert ACL(perms, ANYONE_ID_UNSAFE).acl_list == names


def test_acl_repr_shows_perms_list_and_id() -> None:
    text = repr(ACL(3, Id("ip", "10.0.0.1")))
    assert "3" in text and "['READ', 'WRITE']" in text and "10.0.0.1" in text


def test_digest_credential_example() -> None:
    assert make_digest_acl_credential("alice", "secret") == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="


def test_make_acl() -> None:
    assert make_acl("world", "anyone", read=True) == ACL(1, Id("world", "anyone"))
    flags = make_acl("ip", "1.2.3.4", write=True, create=True, delete=True, admin=True)
    assert flags.perms == 2 | 4 | 8 | 16
    assert make_acl("ip", "x", read=False, all=True).perms == 31
    assert make_acl("ip", "x").perms == 0


def test_make_digest_acl() -> None:
    acl = make_digest_acl("alice", "secret", read=True, admin=True)
    assert acl == ACL(17, Id("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="))
    assert make_digest_acl("alice", "secret", all=True).perms == 31
