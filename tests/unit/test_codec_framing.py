"""FrameReader: reassembly, batching and the size cap."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazoo.exceptions import ProtocolError
from kazoo.protocol.framing import DEFAULT_MAX_FRAME_SIZE, FrameReader


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def test_default_cap() -> None:
    assert DEFAULT_MAX_FRAME_SIZE == 0xFFFFF + 65536 == 1114111
    assert FrameReader().max_frame_size == DEFAULT_MAX_FRAME_SIZE


def test_split_at_every_byte_boundary() -> None:
    payloads = [b"hello world", b"", b"\x00" * 20]
    stream = b"".join(frame(p) for p in payloads)
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == payloads
        assert reader.pending() == 0


def test_one_byte_at_a_time() -> None:
    payloads = [bytes([i]) * i for i in range(30)]
    stream = b"".join(frame(p) for p in payloads)
    reader = FrameReader()
    got = []
    for i in range(len(stream)):
        got += reader.feed(stream[i : i + 1])
    assert got == payloads


def test_many_frames_in_one_chunk_and_partial_tail() -> None:
    payloads = [str(i).encode() * (i % 7) for i in range(500)]
    stream = b"".join(frame(p) for p in payloads) + frame(b"tail")[:5]
    reader = FrameReader()
    assert reader.feed(stream) == payloads
    assert reader.pending() == 5
    assert reader.feed(b"ail") == [b"tail"]
    assert reader.pending() == 0


def test_cap_exactly_at_max_accepted_and_max_plus_one_rejected() -> None:
    cap = 1000
    assert FrameReader(cap).feed(frame(b"x" * cap)) == [b"x" * cap]
    with pytest.raises(ProtocolError, match="1001"):
        FrameReader(cap).feed(frame(b"x" * (cap + 1)))
    with pytest.raises(ProtocolError):
        FrameReader(cap).feed(struct.pack(">i", cap + 1))


def test_default_cap_boundaries() -> None:
    big = b"z" * DEFAULT_MAX_FRAME_SIZE
    assert FrameReader().feed(frame(big)) == [big]
    with pytest.raises(ProtocolError):
        FrameReader().feed(struct.pack(">i", DEFAULT_MAX_FRAME_SIZE + 1))


def test_big_frame_in_small_chunks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    stream = frame(payload) + frame(b"next")
    reader = FrameReader()
    got = []
    for i in range(0, len(stream), 997):
        got += reader.feed(stream[i : i + 997])
    assert got == [payload, b"next"]
    assert reader.pending() == 0


def test_frames_after_compaction() -> None:
    small = [frame(bytes([i % 256]) * 300) for i in range(600)]
    stream = b"".join(small)
    reader = FrameReader()
    got = []
    for i in range(0, len(stream), 1000):
        got += reader.feed(stream[i : i + 1000])
    assert len(got) == 600 and all(g == bytes([i % 256]) * 300 for i, g in enumerate(got))


def test_bad_cap_argument() -> None:
    with pytest.raises(ValueError):
        FrameReader(-1)


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_arbitrary_chunking_reassembles(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    reader = FrameReader(300)
    got: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += reader.feed(stream[prev:cut])
        prev = cut
    assert got == payloads
    assert reader.pending() == 0
