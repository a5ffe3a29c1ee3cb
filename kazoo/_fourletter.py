"""Four-letter words: ``command()`` and ``server_version()``."""

from __future__ import annotations

import re
import socket
from typing import Callable

from kazoo.exceptions import ConnectionLoss, KazooException

_MAX_REPLY = 1024 * 1024
_VERSION_RE = re.compile(r"(?:Zookeeper version: |zookeeper\.version=)(\d+(?:\.\d+)*)")


def command(
    address: tuple[str, int] | None,
    cmd: bytes,
    timeout: float,
    connect: Callable[..., socket.socket],
) -> str:
    """Send ``cmd`` on a fresh connection to ``address``; read until EOF (1 MiB cap)."""
    if address is None:
        raise ConnectionLoss("not connected to a server")
    if isinstance(cmd, str):
        cmd = cmd.encode("ascii")
    if not isinstance(cmd, bytes) or len(cmd) != 4:
        raise ValueError("a four-letter word must be 4 bytes")
    sock = connect(address, timeout=timeout)
    try:
        sock.sendall(cmd)
        chunks = []
        size = 0
        while size < _MAX_REPLY:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        sock.close()
    return b"".join(chunks)[:_MAX_REPLY].decode("utf-8", "replace")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(3, 8, 0)`` from a ``srvr`` or ``envi`` reply, or ``None``."""
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def server_version(run: Callable[[bytes], str], retries: int = 3) -> tuple[int, ...]:
    """Ask ``srvr`` (then ``envi``) until a version comes back."""
    for attempt in range(1 + retries):
        cmd = b"srvr" if attempt % 2 == 0 else b"envi"
        try:
            version = parse_version(run(cmd))
        except OSError:
            version = None
        if version is not None:
            return version
    raise KazooException(f"could not determine the server version after {1 + retries} tries")
