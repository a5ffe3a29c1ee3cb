"""Splitting the server's byte stream into frames (PROTOCOL.md §1)."""

from __future__ import annotations

import struct

from kazoo.exceptions import ProtocolError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameReader"]

#: Default cap on an incoming frame: jute.maxbuffer (0xfffff) plus 64 KiB, because the server
#: does not cap its own replies (a getData of ~1 MiB gives a slightly larger frame).
DEFAULT_MAX_FRAME_SIZE = 0xFFFFF + 65536

_LENGTH = struct.Struct(">i")
_unpack_length = _LENGTH.unpack_from
# Consumed bytes are dropped from the front of the buffer once they pass this size and
# make up at least half of it, so a large frame fed in small chunks is copied O(1) times.
_COMPACT_AT = 1 << 16


class FrameReader:
    """Feed it bytes as they arrive; it returns each complete frame payload.

    A length prefix that is negative or above ``max_frame_size`` raises
    :class:`~kazoo.exceptions.ProtocolError` as soon as its 4 bytes arrive, before any of the
    body is buffered. After such an error the reader is unusable; drop the connection.
    """

    __slots__ = ("_buf", "_off", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not 0 <= max_frame_size <= 0x7FFFFFFF:
            raise ValueError(f"max_frame_size must be in [0, 2**31-1], not {max_frame_size}")
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._off = 0

    def pending(self) -> int:
        """Number of bytes buffered that are not yet part of a returned frame."""
        return len(self._buf) - self._off

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every frame payload it completes, in arrival order."""
        buf = self._buf
        buf += data
        off = self._off
        size = len(buf)
        frames: list[bytes] = []
        limit = self.max_frame_size
        with memoryview(buf) as view:
            while size - off >= 4:
                length: int = _unpack_length(view, off)[0]
                if length < 0 or length > limit:
                    self._off = off
                    raise ProtocolError(f"frame length {length} outside [0, {limit}]")
                end = off + 4 + length
                if end > size:
                    break
                frames.append(view[off + 4 : end].tobytes())
                off = end
        if off == size:
            buf.clear()
            off = 0
        elif off >= _COMPACT_AT and off * 2 >= size:
            del buf[:off]
            off = 0
        self._off = off
        return frames
