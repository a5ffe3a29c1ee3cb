"""Hostile server bytes: the codec may only ever raise ProtocolError, and never allocate first."""

from __future__ import annotations

import struct
import tracemalloc
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kazoo.exceptions import ProtocolError
from kazoo.protocol import serialization as ser
from kazoo.protocol._jute import Reader
from kazoo.protocol.framing import FrameReader


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def ustr(v: str) -> bytes:
    raw = v.encode()
    return i32(len(raw)) + raw


STAT = struct.pack(">qqqqiiiqiiq", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
ACLS = i32(2) + i32(31) + ustr("world") + ustr("anyone") + i32(1) + ustr("digest") + ustr("a:b")
KIDS = i32(3) + ustr("a") + ustr("bé") + ustr("")
MULTI_OPS = [
    ser.Create("/a", b"x", [], 0),
    ser.Create("/c", None, [], 4, container=True),
    ser.Delete("/b"),
    ser.SetData("/a", b"y"),
    ser.CheckVersion("/a", 1),
]


def _mh(t: int, done: int = 0, err: int = 0) -> bytes:
    return i32(t) + bytes([done]) + i32(err)


MULTI_OK = b"".join(
    [
        _mh(1) + ustr("/a"),
        _mh(15) + ustr("/c") + STAT,
        _mh(2),
        _mh(5) + STAT,
        _mh(13),
        ser.MULTI_END,
    ]
)
MULTI_FAIL = b"".join(_mh(-1, 0, e) + i32(e) for e in (0, 0, -103, -2, -2)) + ser.MULTI_END

# (request, a valid success body for it)
VALID: list[tuple[Any, bytes]] = [
    (ser.Create("/a", b"", [], 0), ustr("/a")),
    (ser.Create("/a", b"", [], 0, include_stat=True), ustr("/a") + STAT),
    (ser.Create("/a", b"", [], 5, ttl=10), ustr("/a") + STAT),
    (ser.Delete("/a"), b""),
    (ser.Exists("/a"), STAT),
    (ser.GetData("/a"), i32(3) + b"abc" + STAT),
    (ser.SetData("/a", b""), STAT),
    (ser.GetACL("/a"), ACLS + STAT),
    (ser.SetACL("/a", []), STAT),
    (ser.GetChildren("/a"), KIDS),
    (ser.GetChildren2("/a"), KIDS + STAT),
    (ser.Sync("/a"), ustr("/a")),
    (ser.Reconfig(None, None, None), i32(2) + b"ab" + STAT),
    (ser.SASL(None), i32(2) + b"ch"),
    (ser.GetEphemerals("/"), KIDS),
    (ser.GetAllChildrenNumber("/"), i32(7)),
    (ser.AddWatch("/", 1), i32(0)),
    (ser.CheckWatches("/", 1), b""),
    (ser.RemoveWatches("/", 1), b""),
    (ser.WhoAmI(), i32(2) + ustr("digest") + ustr("alice") + ustr("ip") + ustr("127.0.0.1")),
    (ser.Auth(0, "digest", b"x"), b""),
    (ser.SetWatches2(0, [], [], [], [], []), b""),
    (ser.Ping(), b""),
    (ser.Close(), b""),
    (ser.Transaction(MULTI_OPS), MULTI_OK),
    (ser.Transaction(MULTI_OPS), MULTI_FAIL),
    (ser.Transaction([]), ser.MULTI_END),
]
CONNECT_RESPONSE = i32(0) + i32(4000) + i64(77) + i32(16) + bytes(16) + b"\x01"
EVENT = i32(-1) + i64(-1) + i32(0) + i32(4) + i32(3) + ustr("/a/b")

PARSERS: list[Callable[[bytes], object]] = [
    *(lambda b, req=req: req.deserialize(Reader(b)) for req, _ in VALID),
    ser.parse_connect_response,
    lambda b: ser.read_reply_header(Reader(b)),
    lambda b: ser.read_watcher_event(Reader(b)),
    lambda b: [ser.read_reply_header(r := Reader(b)), ser.read_watcher_event(r)],
]
SAMPLES = [body for _, body in VALID] + [CONNECT_RESPONSE, EVENT[16:], EVENT[:16], EVENT]


def only_protocol_error(call: Callable[[], object]) -> None:
    try:
        call()
    except ProtocolError as e:
        assert str(e), "ProtocolError without a message"


def test_valid_samples_parse() -> None:
    for req, body in VALID:
        r = Reader(body)
        req.deserialize(r)
        assert r.remaining() == 0, req


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_every_parser(payload: bytes) -> None:
    for parse in PARSERS:
        only_protocol_error(lambda parse=parse: parse(payload))  # type: ignore[misc]


SPECIAL_INTS = [-1, -2, 0, 1, 2**31 - 1, -(2**31), 2**31 - 16, 0x7FFFFFF0, 68, 1000]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "int", "delete"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "int":
            data[pos : pos + 4] = i32(draw(st.sampled_from(SPECIAL_INTS)))
    return bytes(data)


@settings(max_examples=500)
@given(mutated())
def test_mutated_valid_payloads(payload: bytes) -> None:
    for parse in PARSERS:
        only_protocol_error(lambda parse=parse: parse(payload))  # type: ignore[misc]


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=64), max_size=10), st.integers(0, 2000))
def test_frame_reader_random_chunks(chunks: list[bytes], cap: int) -> None:
    reader = FrameReader(cap)
    for chunk in chunks:
        try:
            frames = reader.feed(chunk)
        except ProtocolError:
            return
        assert all(len(f) <= cap for f in frames)


# ---------------------------------------------------------------------------------------------
# Explicit hostile cases


def test_frame_length_near_2_31_rejected_before_body() -> None:
    reader = FrameReader()
    with pytest.raises(ProtocolError, match="frame length 2147483632"):
        reader.feed(i32(2**31 - 16))
    with pytest.raises(ProtocolError, match="frame length -5"):
        FrameReader().feed(i32(-5) + b"xx")


def test_frame_length_checked_as_soon_as_4_bytes_arrive() -> None:
    reader = FrameReader(100)
    assert reader.feed(b"\x00\x00") == []
    with pytest.raises(ProtocolError):
        reader.feed(b"\x00\x65")  # 101


@pytest.mark.parametrize("length", [-2, -100, -(2**31)])
def test_negative_buffer_length(length: int) -> None:
    with pytest.raises(ProtocolError, match="negative buffer length"):
        Reader(i32(length) + b"abc").read_buffer()
    with pytest.raises(ProtocolError, match="negative"):
        Reader(i32(length) + b"abc").read_ustring()
    with pytest.raises(ProtocolError):
        ser.GetData("/").deserialize(Reader(i32(length) + STAT))


def test_vector_element_longer_than_payload() -> None:
    with pytest.raises(ProtocolError, match="bad vector element"):
        Reader(i32(2) + ustr("a") + i32(50) + b"xx").read_ustring_vector()
    with pytest.raises(ProtocolError, match="truncated"):
        Reader(i32(2) + ustr("a") + b"\x00\x00\x00").read_ustring_vector()


def test_buffer_longer_than_payload() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        Reader(i32(5) + b"abcd").read_buffer()
    with pytest.raises(ProtocolError, match="exceeds"):
        Reader(i32(2**31 - 1) + b"abcd").read_ustring()


VECTOR_READERS: list[Callable[[Reader], object]] = [
    Reader.read_ustring_vector,
    Reader.read_acl_vector,
    Reader.read_client_info_vector,
    ser.GetChildren("/").deserialize,
    ser.GetACL("/").deserialize,
    ser.WhoAmI().deserialize,
    ser.GetEphemerals("/").deserialize,
]


@pytest.mark.parametrize("read", VECTOR_READERS)
@pytest.mark.parametrize("count", [2**31 - 1, 2**30, 3])
def test_huge_vector_count_raises_before_allocating(
    read: Callable[[Reader], object], count: int
) -> None:
    payload = i32(count) + b"\x00" * 10
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="count"):
            read(Reader(payload))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@pytest.mark.parametrize("count", [-2, -(2**31)])
def test_negative_vector_count(count: int) -> None:
    with pytest.raises(ProtocolError, match="negative"):
        Reader(i32(count)).read_ustring_vector()


def test_null_vector_element_rejected() -> None:
    with pytest.raises(ProtocolError, match="null"):
        Reader(i32(1) + i32(-1)).read_ustring_vector()
    with pytest.raises(ProtocolError, match="null"):
        Reader(i32(1) + i32(31) + i32(-1) + i32(0)).read_acl_vector()


def test_truncated_stat() -> None:
    for n in (0, 1, 67):
        with pytest.raises(ProtocolError, match="Stat"):
            Reader(STAT[:n]).read_stat()
    with pytest.raises(ProtocolError):
        ser.GetData("/").deserialize(Reader(i32(0) + STAT[:-1]))


def test_truncated_scalars() -> None:
    for read in (Reader.read_int, Reader.read_long, Reader.read_bool):
        with pytest.raises(ProtocolError, match="truncated"):
            read(Reader(b""))
    with pytest.raises(ProtocolError, match="truncated"):
        Reader(b"\x00" * 7).read_long()


def test_invalid_utf8_is_replaced_not_raised() -> None:
    for raw in (
        b"\xff",
        b"\xc3",
        b"\xed\xa0\xbd",
        b"\xed\xb8\x80\xed\xa0\xbd",
        b"\xf4\x90\x80\x80",
    ):
        got = Reader(i32(len(raw)) + raw).read_ustring()
        assert isinstance(got, str) and "\ufffd" in got
        got.encode("utf-8")  # a valid str: no lone surrogates leak out


def test_multi_without_end_marker() -> None:
    with pytest.raises(ProtocolError, match="MultiHeader"):
        ser.Transaction(MULTI_OPS).deserialize(Reader(MULTI_OK[: -len(ser.MULTI_END)]))
    with pytest.raises(ProtocolError):
        ser.Transaction([]).deserialize(Reader(b""))


def test_short_reply_header_and_event() -> None:
    with pytest.raises(ProtocolError, match="ReplyHeader"):
        ser.read_reply_header(Reader(b"\x00" * 15))
    with pytest.raises(ProtocolError, match="WatcherEvent"):
        ser.read_watcher_event(Reader(b"\x00" * 7))
    with pytest.raises(ProtocolError, match="null"):
        ser.read_watcher_event(Reader(i32(1) + i32(3) + i32(-1)))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 35])
def test_short_connect_response(size: int) -> None:
    with pytest.raises(ProtocolError, match="not a ConnectResponse"):
        ser.parse_connect_response(CONNECT_RESPONSE[:size])


def test_connect_response_bad_password_length() -> None:
    bad = CONNECT_RESPONSE[:16] + i32(100) + CONNECT_RESPONSE[20:]
    with pytest.raises(ProtocolError, match="exceeds"):
        ser.parse_connect_response(bad)
