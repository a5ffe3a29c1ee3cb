"""Four-letter words: ``command()`` and ``server_version()``, blocking and asyncio."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable
from typing import Any, Callable

from kazoo.exceptions import ConnectionLoss, KazooException

_MAX_REPLY = 1024 * 1024
_VERSION_RE = re.compile(r"(?:Zookeeper version: |zookeeper\.version=)(\d+(?:\.\d+)*)")


def _check(address: tuple[str, int] | None, cmd: Any) -> bytes:
    if address is None:
        raise ConnectionLoss("not connected to a server")
    if isinstance(cmd, str):
        cmd = cmd.encode("ascii")
    if not isinstance(cmd, bytes) or len(cmd) != 4:
        raise ValueError("a four-letter word must be 4 bytes")
    return cmd


def _decode(chunks: list[bytes]) -> str:
    return b"".join(chunks)[:_MAX_REPLY].decode("utf-8", "replace")


def command(
    address: tuple[str, int] | None,
    cmd: bytes,
    timeout: float,
    connect: Callable[..., socket.socket],
) -> str:
    """Send ``cmd`` on a fresh connection to ``address``; read until EOF (1 MiB cap)."""
    cmd = _check(address, cmd)
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
    return _decode(chunks)


async def command_async(address: tuple[str, int] | None, cmd: bytes, timeout: float) -> str:
    """:func:`command` over asyncio streams; the whole exchange is bounded by ``timeout``.

    :raises TimeoutError: (an ``OSError``) the server did not finish in time.
    """
    cmd = _check(address, cmd)
    assert address is not None
    try:
        return await asyncio.wait_for(_exchange(address, cmd), timeout)
    except asyncio.TimeoutError:  # not an OSError before Python 3.11
        raise TimeoutError(f"no complete answer to {cmd!r} within {timeout} s") from None


async def _exchange(address: tuple[str, int], cmd: bytes) -> str:
    reader, writer = await asyncio.open_connection(address[0], address[1])
    try:
        writer.write(cmd)
        await writer.drain()
        chunks = []
        size = 0
        while size < _MAX_REPLY:
            chunk = await reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return _decode(chunks)


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(3, 8, 0)`` from a ``srvr`` or ``envi`` reply, or ``None``."""
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def _version_command(attempt: int) -> bytes:
    return b"srvr" if attempt % 2 == 0 else b"envi"


def _no_version(retries: int) -> KazooException:
    return KazooException(f"could not determine the server version after {1 + retries} tries")


def server_version(run: Callable[[bytes], str], retries: int = 3) -> tuple[int, ...]:
    """Ask ``srvr`` (then ``envi``) until a version comes back."""
    for attempt in range(1 + retries):
        try:
            version = parse_version(run(_version_command(attempt)))
        except OSError:
            version = None
        if version is not None:
            return version
    raise _no_version(retries)


async def server_version_async(
    run: Callable[[bytes], Awaitable[str]], retries: int = 3
) -> tuple[int, ...]:
    """:func:`server_version` with an awaitable ``run``."""
    for attempt in range(1 + retries):
        try:
            version = parse_version(await run(_version_command(attempt)))
        except (OSError, asyncio.TimeoutError):
            version = None
        if version is not None:
            return version
    raise _no_version(retries)
