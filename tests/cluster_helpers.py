"""Cluster helpers shared by the blocking and the asyncio integration tests.

They need only what both clients offer: ``client._connection._socket`` (the live
connection's socket, or ``None``) and ``client._connection._address``.
"""

from __future__ import annotations

import socket
from typing import Any


def sever(client: Any) -> None:
    """Shut the client's live TCP connection down from outside (no waiting)."""
    sock = client._connection._socket
    assert sock is not None, "the client has no live connection"
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def member_of(cluster: Any, client: Any) -> Any:
    """The cluster member ``client`` is connected to right now."""
    address = client._connection._address
    assert address is not None, "the client is not connected"
    for member in cluster:
        if member.address[1] == address[1]:
            return member
    raise AssertionError(f"no member serves {address}")


def mode(member: Any, timeout: float = 5.0) -> str:
    """``leader``, ``follower`` or ``standalone`` from the member's ``srvr`` reply."""
    with socket.create_connection(member.address, timeout=timeout) as sock:
        sock.sendall(b"srvr")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def follower(cluster: Any) -> tuple[Any, str]:
    """A follower, and a host string naming every other member."""
    for member in cluster:
        if mode(member) == "follower":
            rest = ",".join(f"{m.host}:{m.client_port}" for m in cluster if m is not member)
            return member, rest
    raise AssertionError("the ensemble has no follower")
