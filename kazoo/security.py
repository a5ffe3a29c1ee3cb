"""ACLs, identities and the digest helpers."""

from __future__ import annotations

import base64
import hashlib
from typing import NamedTuple


class Permissions:
    """ACL permission bits."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


_PERM_NAMES = (
    (Permissions.READ, "READ"),
    (Permissions.WRITE, "WRITE"),
    (Permissions.CREATE, "CREATE"),
    (Permissions.DELETE, "DELETE"),
    (Permissions.ADMIN, "ADMIN"),
)


class Id(NamedTuple):
    """An identity: ``scheme`` (world, digest, ip, ...) and ``id``."""

    scheme: str
    id: str


class ACL(NamedTuple):
    """A permission set granted to an identity."""

    perms: int
    id: Id

    @property
    def acl_list(self) -> list[str]:
        if self.perms & Permissions.ALL == Permissions.ALL:
            return ["ALL"]
        return [name for bit, name in _PERM_NAMES if self.perms & bit]

    def __repr__(self) -> str:
        return f"ACL(perms={self.perms!r}, acl_list={self.acl_list!r}, id={self.id!r})"


class ClientInfo(NamedTuple):
    """One identity of the connection, as ``whoami()`` reports it."""

    auth_scheme: str
    user: str


ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")
OPEN_ACL_UNSAFE = [ACL(Permissions.ALL, ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL = [ACL(Permissions.ALL, AUTH_IDS)]
READ_ACL_UNSAFE = [ACL(Permissions.READ, ANYONE_ID_UNSAFE)]


def make_digest_acl_credential(username: str, password: str) -> str:
    """``"username:" + base64(sha1("username:password"))``, the digest ACL id."""
    digest = hashlib.sha1(f"{username}:{password}".encode()).digest()
    return f"{username}:{base64.b64encode(digest).decode('ascii')}"


def make_acl(
    scheme: str,
    credential: str,
    read: bool = False,
    write: bool = False,
    create: bool = False,
    delete: bool = False,
    admin: bool = False,
    all: bool = False,
) -> ACL:
    """Build an :class:`ACL` for ``scheme:credential`` from permission flags."""
    if all:
        perms = Permissions.ALL
    else:
        perms = 0
        for flag, bit in (
            (read, Permissions.READ),
            (write, Permissions.WRITE),
            (create, Permissions.CREATE),
            (delete, Permissions.DELETE),
            (admin, Permissions.ADMIN),
        ):
            if flag:
                perms |= bit
    return ACL(perms, Id(scheme, credential))


def make_digest_acl(
    username: str,
    password: str,
    read: bool = False,
    write: bool = False,
    create: bool = False,
    delete: bool = False,
    admin: bool = False,
    all: bool = False,
) -> ACL:
    """Build a digest :class:`ACL` for ``username``/``password``."""
    cred = make_digest_acl_credential(username, password)
    return make_acl("digest", cred, read, write, create, delete, admin, all)
