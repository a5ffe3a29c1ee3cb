"""Authentication against real ZooKeeper: digest ACLs, replay after reconnect, failures."""

from __future__ import annotations

import time

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, ConnectionClosedError, NoAuthError
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent
from kazoo.security import make_digest_acl
from kazoo.testing import drop_connection
from kazoo.testing.handlers import make_handler

pytestmark = pytest.mark.integration

WAIT = 15.0
ALICE = ("digest", "alice:secret")


@pytest.fixture
def secret_node(zk_client: KazooClient) -> str:
    """``/secret`` readable and writable only by digest user alice."""
    zk_client.create("/secret", b"for alice", acl=[make_digest_acl("alice", "secret", all=True)])
    return "/secret"


def test_digest_acl_denies_without_credentials(make_client, secret_node: str) -> None:
    anonymous = make_client()
    with pytest.raises(NoAuthError):
        anonymous.get(secret_node)
    with pytest.raises(NoAuthError):
        anonymous.set(secret_node, b"x")
    with pytest.raises(NoAuthError):
        anonymous.create(secret_node + "/child")


def test_add_auth_grants_access(make_client, secret_node: str) -> None:
    client = make_client()
    with pytest.raises(NoAuthError):
        client.get(secret_node)
    assert client.add_auth(*ALICE) is True
    assert ALICE in client.auth_data
    assert client.get(secret_node)[0] == b"for alice"
    client.set(secret_node, b"changed")
    assert client.get(secret_node)[0] == b"changed"


def test_add_auth_async(make_client, secret_node: str) -> None:
    client = make_client()
    result = client.add_auth_async(*ALICE)
    assert result.get(timeout=WAIT) is True
    assert client.get(secret_node)[0] == b"for alice"


def test_wrong_password_does_not_grant_access(make_client, secret_node: str) -> None:
    client = make_client()
    assert client.add_auth("digest", "alice:wrong") is True  # digest accepts any identity
    with pytest.raises(NoAuthError):
        client.get(secret_node)


def test_credentials_are_replayed_after_reconnect(make_client, secret_node: str) -> None:
    client = make_client()
    client.add_auth(*ALICE)
    session_id = client.client_id[0]
    for _ in range(2):
        drop_connection(client)
        assert client.client_id[0] == session_id
        # CONNECTED is announced only after the replay: the first read must pass
        assert client.get(secret_node)[0] == b"for alice"


def test_auth_data_in_the_constructor(make_client, secret_node: str) -> None:
    client = make_client(auth_data=[ALICE])
    assert client.auth_data == {ALICE}
    assert client.get(secret_node)[0] == b"for alice"
    drop_connection(client)
    assert client.get(secret_node)[0] == b"for alice"


def test_creator_acl_with_auth(make_client) -> None:
    from kazoo.security import CREATOR_ALL_ACL

    owner = make_client(auth_data=[ALICE])
    owner.create("/mine", b"x", acl=CREATOR_ALL_ACL)
    acls, _ = owner.get_acls("/mine")
    assert [acl.id.scheme for acl in acls] == ["digest"]
    assert acls[0].id.id.startswith("alice:")
    with pytest.raises(NoAuthError):
        make_client().get("/mine")


def _fail_auth(client: KazooClient) -> None:
    began = time.monotonic()
    with pytest.raises(AuthFailedError):
        client.add_auth_async("nosuchscheme", "x").get(timeout=WAIT)
    assert time.monotonic() - began < WAIT


def test_unknown_scheme_fails_auth_without_a_hang(make_client, helpers) -> None:
    client = make_client()
    client.ensure_path("/w")
    log = helpers.EventLog()
    client.get("/w", watch=log)
    states = helpers.EventLog()
    client.add_listener(states)

    _fail_auth(client)

    assert states.wait_item(KazooState.LOST)
    assert client.state == KazooState.LOST
    assert client.client_state == KeeperState.AUTH_FAILED
    assert not client.connected
    assert client.client_id is None
    assert log.wait_count(1)
    helpers.drain_callbacks(client)
    assert log.items == [WatchedEvent(EventType.NONE, KeeperState.AUTH_FAILED, None)]
    assert states.items == [KazooState.LOST]


def test_calls_after_auth_failure_raise_auth_failed(make_client) -> None:
    client = make_client()
    _fail_auth(client)
    with pytest.raises(AuthFailedError):
        client.get("/")
    with pytest.raises(AuthFailedError):
        client.create("/x")
    result = client.exists_async("/")
    assert result.wait(WAIT)
    assert isinstance(result.exception, AuthFailedError)


def test_stop_after_auth_failure(make_client, helpers) -> None:
    client = make_client()
    _fail_auth(client)
    began = time.monotonic()
    client.stop()
    assert time.monotonic() - began < WAIT
    assert client.state == KazooState.LOST
    assert client.client_state == KeeperState.CLOSED
    with pytest.raises(ConnectionClosedError):
        client.get("/")


def test_unknown_scheme_then_restart_recovers(make_client) -> None:
    client = make_client()
    with pytest.raises(AuthFailedError):
        client.add_auth_async("nosuchscheme", "x").get(timeout=WAIT)
    client.auth_data.discard(("nosuchscheme", "x"))
    client.restart()
    assert client.connected
    assert client.create("/ok") == "/ok"


def test_unknown_scheme_in_auth_data_fails_start(zk_hosts: str) -> None:
    client = KazooClient(
        zk_hosts, timeout=10.0, auth_data=[("nosuchscheme", "x")], handler=make_handler()
    )
    try:
        began = time.monotonic()
        with pytest.raises((AuthFailedError, client.handler.timeout_exception)):
            client.start(timeout=5.0)
        assert time.monotonic() - began < 10.0
        assert not client.connected
        assert client.state == KazooState.LOST
    finally:
        client.stop()
        client.close()


@pytest.mark.parametrize(
    ("scheme", "credential"),
    [("digest", b"alice:secret"), (b"digest", "alice:secret"), ("digest", None), (1, "x")],
    ids=["bytes-credential", "bytes-scheme", "none-credential", "int-scheme"],
)
def test_non_str_credentials_raise_type_error(zk_client: KazooClient, scheme, credential) -> None:
    with pytest.raises(TypeError):
        zk_client.add_auth(scheme, credential)
    with pytest.raises(TypeError):
        zk_client.add_auth_async(scheme, credential)  # raised by the call itself
    assert zk_client.auth_data == set()
    with pytest.raises(TypeError):
        KazooClient("127.0.0.1:1", auth_data=[(scheme, credential)])
    assert zk_client.connected
