"""Codec: golden bytes from PROTOCOL.md and round trips against an independent decoder."""

from __future__ import annotations

import struct
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazoo import exceptions as exc
from kazoo.exceptions import ProtocolError
from kazoo.protocol import _jute as jute
from kazoo.protocol import serialization as ser
from kazoo.protocol._jute import Reader
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, ClientInfo, Id, make_digest_acl_credential

# ---------------------------------------------------------------------------------------------
# An independent jute decoder and encoder, written with plain struct calls and offsets.


class Dec:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.off = 0

    def take(self, n: int) -> bytes:
        assert 0 <= n and self.off + n <= len(self.data), "read past the end"
        out = self.data[self.off : self.off + n]
        self.off += n
        return out

    def rint(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def rlong(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def rbool(self) -> bool:
        b = self.take(1)[0]
        assert b in (0, 1)
        return b == 1

    def buffer(self) -> bytes | None:
        n = self.rint()
        return None if n == -1 else self.take(n)

    def ustring(self) -> str | None:
        raw = self.buffer()
        return None if raw is None else raw.decode("utf-8")

    def vector(self, item: Callable[[], Any]) -> list[Any] | None:
        n = self.rint()
        return None if n == -1 else [item() for _ in range(n)]

    def acl(self) -> tuple[int, str | None, str | None]:
        return self.rint(), self.ustring(), self.ustring()

    def end(self) -> None:
        assert self.off == len(self.data), f"{len(self.data) - self.off} bytes left over"


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def buf(v: bytes | None) -> bytes:
    return i32(-1) if v is None else i32(len(v)) + v


def ustr(v: str | None) -> bytes:
    return buf(None if v is None else v.encode("utf-8"))


def stat_bytes(s: ZnodeStat) -> bytes:
    return b"".join(
        [i64(s.czxid), i64(s.mzxid), i64(s.ctime), i64(s.mtime)]
        + [i32(s.version), i32(s.cversion), i32(s.aversion), i64(s.ephemeralOwner)]
        + [i32(s.dataLength), i32(s.numChildren), i64(s.pzxid)]
    )


def acl_bytes(acls: list[ACL]) -> bytes:
    return i32(len(acls)) + b"".join(i32(a.perms) + ustr(a.id.scheme) + ustr(a.id.id) for a in acls)


def str_vector(items: list[str] | None) -> bytes:
    return i32(-1) if items is None else i32(len(items)) + b"".join(ustr(s) for s in items)


# ---------------------------------------------------------------------------------------------
# Strategies

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
opt_text = st.none() | text
data = st.none() | st.binary(max_size=200)
paths = st.lists(text, max_size=5).map(lambda parts: "/" + "/".join(parts))
stats = st.builds(
    ZnodeStat, int64, int64, int64, int64, int32, int32, int32, int64, int32, int32, int64
)
acls = st.lists(st.builds(ACL, int32, st.builds(Id, text, text)), max_size=5)
str_lists = st.lists(text, max_size=8)

H = bytes.fromhex


# ---------------------------------------------------------------------------------------------
# Golden bytes (PROTOCOL.md)


def test_connect_request_golden_frame() -> None:
    connect = ser.Connect(0, 0, 30000, 0, b"\x00" * 16, False)
    frame = ser.encode_connect(connect)
    expected = H(
        "0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010"
        " 00000000000000000000000000000000 00".replace(" ", "")
    )
    assert frame == expected
    assert len(frame) == 49 and len(connect.serialize()) == 45


def test_connect_request_null_password_and_read_only() -> None:
    body = ser.Connect(0, 7, 4000, -5, None, True).serialize()
    d = Dec(body)
    assert (d.rint(), d.rlong(), d.rint(), d.rlong(), d.buffer(), d.rbool()) == (
        0,
        7,
        4000,
        -5,
        None,
        True,
    )
    d.end()


CONNECT_RESPONSE_37 = (
    H("00000000 00007530 010000048d950000 00000010".replace(" ", "")) + bytes(range(16)) + b"\x00"
)


def test_connect_response_37_bytes() -> None:
    resp = ser.parse_connect_response(CONNECT_RESPONSE_37)
    assert resp == ser.ConnectResponse(0, 30000, 0x010000048D950000, bytes(range(16)), False)
    ro = ser.parse_connect_response(CONNECT_RESPONSE_37[:-1] + b"\x01")
    assert ro.read_only is True


def test_connect_response_36_bytes_has_no_read_only_byte() -> None:
    resp = ser.parse_connect_response(CONNECT_RESPONSE_37[:36])
    assert resp.read_only is False and resp.time_out == 30000
    assert resp.session_id == 0x010000048D950000


def test_connect_response_trailing_bytes_ignored() -> None:
    resp = ser.parse_connect_response(CONNECT_RESPONSE_37[:-1] + b"\x01\xff\xff")
    assert resp.read_only is True


def test_connect_response_expired_session() -> None:
    payload = i32(0) + i32(0) + i64(0) + buf(bytes(16)) + b"\x00"
    resp = ser.parse_connect_response(payload)
    assert (resp.time_out, resp.session_id, resp.passwd) == (0, 0, bytes(16))


def test_connect_response_short_error_header_from_read_only_server() -> None:
    header = i32(0) + i64(0) + i32(-119)
    with pytest.raises(ProtocolError, match="not a ConnectResponse.*-119"):
        ser.parse_connect_response(header)


def test_connect_response_repr_hides_password() -> None:
    resp = ser.parse_connect_response(CONNECT_RESPONSE_37)
    assert "passwd=<hidden>" in repr(resp) and repr(bytes(range(16))) not in repr(resp)
    assert "<hidden>" in repr(ser.Connect(0, 0, 1, 0, b"secret-password!", False))
    assert "secret" not in repr(ser.Auth(0, "digest", b"alice:secret"))
    assert "s3cr3t" not in repr(ser.SASL(b"s3cr3t"))


def test_ping_frame() -> None:
    expected = H("00000008 fffffffe 0000000b".replace(" ", ""))
    assert ser.encode_request(ser.PING_XID, ser.Ping()) == expected
    assert ser.PING_FRAME == expected


def test_close_frame_uses_given_xid() -> None:
    assert ser.encode_request(5, ser.Close()) == i32(8) + i32(5) + i32(-11)


def test_special_xids() -> None:
    assert (ser.WATCH_XID, ser.PING_XID, ser.AUTH_XID, ser.SET_WATCHES_XID) == (-1, -2, -4, -8)


def test_multi_end_marker() -> None:
    assert ser.MULTI_END == H("ffffffff01ffffffff")
    assert ser.Transaction([]).serialize() == H("ffffffff01ffffffff")
    assert ser.Transaction([]).deserialize(Reader(H("ffffffff01ffffffff"))) == []


def _multi_error(err: int) -> bytes:
    return i32(-1) + b"\x00" + i32(err) + i32(err)


def test_multi_failure_example() -> None:
    ops = [
        ser.Create("/a", b"", [], 0),
        ser.CheckVersion("/a", 3),
        ser.Delete("/b"),
    ]
    payload = _multi_error(0) + _multi_error(-103) + _multi_error(-2) + ser.MULTI_END
    results = ser.Transaction(ops).deserialize(Reader(payload))
    assert [type(r) for r in results] == [
        exc.RolledBackError,
        exc.BadVersionError,
        exc.RuntimeInconsistency,
    ]


def test_multi_unknown_error_code_gives_generic_instance() -> None:
    payload = _multi_error(-9999) + ser.MULTI_END
    (result,) = ser.Transaction([ser.Delete("/x")]).deserialize(Reader(payload))
    assert isinstance(result, exc.UnknownZookeeperError) and result.code == -9999


def test_multi_success_results() -> None:
    stat = ZnodeStat(*range(1, 12))
    ops = [
        ser.Create("/a", b"x", [], 0),
        ser.Create("/c", None, [], 4, container=True),
        ser.Create("/t", None, [], 5, ttl=100),
        ser.Delete("/b"),
        ser.SetData("/a", b"y"),
        ser.CheckVersion("/a", 1),
    ]

    def hdr(t: int) -> bytes:
        return i32(t) + b"\x00" + i32(0)

    payload = b"".join(
        [
            hdr(1) + ustr("/a"),
            hdr(15) + ustr("/c") + stat_bytes(stat),
            hdr(15) + ustr("/t") + stat_bytes(stat),
            hdr(2),
            hdr(5) + stat_bytes(stat),
            hdr(13),
            ser.MULTI_END,
        ]
    )
    assert ser.Transaction(ops).deserialize(Reader(payload)) == ["/a", "/c", "/t", True, stat, True]


def test_multi_result_count_mismatch_is_protocol_error() -> None:
    ops = [ser.Delete("/a"), ser.Delete("/b")]
    one = i32(2) + b"\x00" + i32(0)
    with pytest.raises(ProtocolError, match="1 results for 2 ops"):
        ser.Transaction(ops).deserialize(Reader(one + ser.MULTI_END))
    with pytest.raises(ProtocolError, match="more results"):
        ser.Transaction(ops).deserialize(Reader(one * 3 + ser.MULTI_END))


def test_multi_unknown_or_mismatched_result_type_is_protocol_error() -> None:
    for result_type in (2, 8, 99):
        payload = i32(result_type) + b"\x00" + i32(0) + ser.MULTI_END
        with pytest.raises(ProtocolError, match="multi result type"):
            ser.Transaction([ser.SetData("/a", b"")]).deserialize(Reader(payload))


def test_multi_rejects_non_write_ops() -> None:
    with pytest.raises(ValueError):
        ser.Transaction([ser.GetData("/a")])


def test_digest_acl_encoding() -> None:
    cred = make_digest_acl_credential("alice", "secret")
    assert cred == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
    acl = [ACL(31, Id("digest", cred))]
    expected = (
        H("00000001 0000001f 00000006".replace(" ", "")) + b"digest" + i32(34) + cred.encode()
    )
    assert jute.encode_acl_vector(acl) == expected
    assert Reader(expected).read_acl_vector() == acl


def test_open_acl_encoding() -> None:
    expected = i32(1) + i32(31) + i32(5) + b"world" + i32(6) + b"anyone"
    assert jute.encode_acl_vector([ACL(31, Id("world", "anyone"))]) == expected


def test_acl_encoding_is_remembered_by_value_and_bounded() -> None:
    world = [ACL(31, Id("world", "anyone"))]
    first = jute.encode_acl_vector(world)
    assert jute.encode_acl_vector(list(world)) is first  # an equal list: the same bytes
    # an ACL with the same perms but another id is not confused with it
    other = jute.encode_acl_vector([ACL(31, Id("ip", "127.0.0.1"))])
    assert other == i32(1) + i32(31) + i32(2) + b"ip" + i32(9) + b"127.0.0.1"
    # a generator is read once, and an unhashable look-alike is encoded, not remembered
    assert jute.encode_acl_vector(a for a in world) == first
    assert jute.encode_acl_vector([(31, ["world", "anyone"])]) == first  # type: ignore[list-item]
    for n in range(jute._ACL_ENCODED_SIZE * 2):
        jute.encode_acl_vector([ACL(n, Id("world", "anyone"))])
    assert len(jute._ACL_ENCODED) <= jute._ACL_ENCODED_SIZE


def test_auth_packet_digest() -> None:
    body = ser.Auth(0, "digest", b"alice:secret").serialize()
    assert body == i32(0) + i32(6) + b"digest" + i32(12) + b"alice:secret"
    frame = ser.encode_request(ser.AUTH_XID, ser.Auth(0, "digest", b"alice:secret"))
    assert frame[:12] == i32(8 + len(body)) + i32(-4) + i32(100)


def test_cesu8_surrogate_pair_decodes_to_astral_code_point() -> None:
    raw = H("eda0bdedb880")
    assert Reader(i32(len(raw)) + raw).read_ustring() == "\U0001f600"
    mixed = b"a" + raw + "é".encode() + raw
    assert Reader(i32(len(mixed)) + mixed).read_ustring() == "a\U0001f600é\U0001f600"


def test_lone_surrogate_and_invalid_utf8_never_raise() -> None:
    lone = H("eda0bd") + b"x"
    assert Reader(i32(4) + lone).read_ustring() == "\ufffdx"
    bad = b"\xff\xfeok"
    assert Reader(i32(4) + bad).read_ustring() == "\ufffd\ufffdok"


def test_plain_utf8_astral_encoding_on_send() -> None:
    assert jute.encode_ustring("\U0001f600") == i32(4) + H("f09f9880")


def test_reply_header_and_watcher_event() -> None:
    r = Reader(i32(-1) + i64(-1) + i32(0) + i32(3) + i32(3) + ustr("/a"))
    assert ser.read_reply_header(r) == (-1, -1, 0)
    assert ser.read_watcher_event(r) == (3, 3, "/a")
    assert r.remaining() == 0
    assert ser.REPLY_HEADER.size == 16


def test_reader_bool_any_nonzero_is_true() -> None:
    assert [Reader(bytes([b])).read_bool() for b in (0, 1, 2, 255)] == [False, True, True, True]


def test_reader_over_memoryview_and_subrange() -> None:
    payload = b"junk" + i32(3) + b"abc" + b"tail"
    view = memoryview(payload)
    r = Reader(view, 4, 4 + 7)
    assert r.read_buffer() == b"abc" and r.remaining() == 0
    with pytest.raises(ProtocolError):
        r.read_int()


def test_writers_into_bytearray() -> None:
    out = bytearray()
    jute.write_int(out, -2)
    jute.write_long(out, 2**40)
    jute.write_bool(out, True)
    jute.write_buffer(out, None)
    jute.write_ustring(out, "é")
    jute.write_ustring_vector(out, ["a"])
    jute.write_acl_vector(out, [])
    d = Dec(bytes(out))
    assert [d.rint(), d.rlong(), d.rbool(), d.buffer(), d.ustring()] == [-2, 2**40, True, None, "é"]
    assert d.vector(d.ustring) == ["a"] and d.vector(d.acl) == []
    d.end()


def test_encode_request_out_of_range_is_value_error() -> None:
    with pytest.raises(ValueError, match="Delete"):
        ser.encode_request(1, ser.Delete("/a", 2**31))


def test_records_equality_and_repr() -> None:
    assert ser.GetData("/a", True) == ser.GetData("/a", True)
    assert ser.GetData("/a", True) != ser.GetData("/a", False)
    assert ser.GetData("/a") != ser.Exists("/a")
    assert repr(ser.SetWatches2(1, ["/d"], [], [], ["/p"], [])).startswith("SetWatches2(")
    assert "persistent=['/p']" in repr(ser.SetWatches2(1, ["/d"], [], [], ["/p"], []))


# ---------------------------------------------------------------------------------------------
# Reader / writer round trips


@given(stats)
def test_stat_round_trip(stat: ZnodeStat) -> None:
    raw = stat_bytes(stat)
    assert len(raw) == 68
    r = Reader(raw)
    assert r.read_stat() == stat and r.remaining() == 0


@given(st.none() | str_lists)
def test_ustring_vector_round_trip(items: list[str] | None) -> None:
    raw = jute.encode_ustring_vector(items)
    assert raw == str_vector(items)
    assert Reader(raw).read_ustring_vector() == items


@given(acls)
def test_acl_vector_round_trip(value: list[ACL]) -> None:
    raw = jute.encode_acl_vector(value)
    assert raw == acl_bytes(value)
    assert Reader(raw).read_acl_vector() == value


@given(opt_text, data, int32, int64, st.booleans())
def test_scalar_round_trip(s: str | None, b: bytes | None, i: int, q: int, flag: bool) -> None:
    raw = jute.encode_ustring(s) + jute.encode_buffer(b) + i32(i) + i64(q) + bytes([flag])
    r = Reader(raw)
    assert (r.read_ustring(), r.read_buffer(), r.read_int(), r.read_long(), r.read_bool()) == (
        s,
        b,
        i,
        q,
        flag,
    )
    assert r.remaining() == 0


# ---------------------------------------------------------------------------------------------
# Request bodies parsed back by the independent decoder


def frame_parts(xid: int, request: Any) -> Dec:
    frame = ser.encode_request(xid, request)
    d = Dec(frame)
    assert d.rint() == len(frame) - 4
    assert (d.rint(), d.rint()) == (xid, request.type)
    return d


@given(
    int32,
    paths,
    data,
    acls,
    st.integers(0, 6),
    st.integers(-5, 2**40),
    st.booleans(),
    st.booleans(),
)
def test_create_layout(
    xid: int,
    path: str,
    value: bytes | None,
    acl: list[ACL],
    flags: int,
    ttl: int,
    container: bool,
    include_stat: bool,
) -> None:
    req = ser.Create(
        path, value, acl, flags, ttl=ttl, container=container, include_stat=include_stat
    )
    expected_type = 19 if container else 21 if ttl > 0 else 15 if include_stat else 1
    assert req.type == expected_type
    d = frame_parts(xid, req)
    assert (d.ustring(), d.buffer(), d.vector(d.acl), d.rint()) == (
        path,
        value,
        [(a.perms, a.id.scheme, a.id.id) for a in acl],
        flags,
    )
    if expected_type == 21:
        assert d.rlong() == ttl
    d.end()


@given(paths, stats)
def test_create_responses(path: str, stat: ZnodeStat) -> None:
    assert ser.Create(path, b"", [], 0).deserialize(Reader(ustr(path))) == (path, None)
    for req in (
        ser.Create(path, b"", [], 0, include_stat=True),
        ser.Create(path, b"", [], 4, container=True),
        ser.Create(path, b"", [], 5, ttl=1),
    ):
        assert req.deserialize(Reader(ustr(path) + stat_bytes(stat))) == (path, stat)


@given(paths, int32, st.booleans())
def test_path_requests_layout(path: str, n: int, flag: bool) -> None:
    cases: list[tuple[Any, list[Any]]] = [
        (ser.Delete(path, n), ["s", "i"]),
        (ser.CheckVersion(path, n), ["s", "i"]),
        (ser.Exists(path, flag), ["s", "b"]),
        (ser.GetData(path, flag), ["s", "b"]),
        (ser.GetChildren(path, flag), ["s", "b"]),
        (ser.GetChildren2(path, flag), ["s", "b"]),
        (ser.GetACL(path), ["s"]),
        (ser.Sync(path), ["s"]),
        (ser.GetAllChildrenNumber(path), ["s"]),
        (ser.GetEphemerals(path), ["s"]),
        (ser.CheckWatches(path, n), ["s", "i"]),
        (ser.RemoveWatches(path, n), ["s", "i"]),
        (ser.AddWatch(path, n), ["s", "i"]),
    ]
    expected_types = [2, 13, 3, 4, 8, 12, 6, 9, 104, 103, 17, 18, 106]
    for (req, layout), opcode in zip(cases, expected_types):
        d = frame_parts(1, req)
        assert req.type == opcode
        readers = {"s": d.ustring, "i": d.rint, "b": d.rbool}
        values = [readers[k]() for k in layout]
        assert values == [path, n if "i" in layout else flag][: len(layout)]
        d.end()


@given(paths, data, int32, acls)
def test_set_requests_layout(path: str, value: bytes | None, version: int, acl: list[ACL]) -> None:
    d = frame_parts(3, ser.SetData(path, value, version))
    assert (d.ustring(), d.buffer(), d.rint()) == (path, value, version)
    d.end()
    d = frame_parts(3, ser.SetACL(path, acl, version))
    assert d.ustring() == path
    assert d.vector(d.acl) == [(a.perms, a.id.scheme, a.id.id) for a in acl]
    assert d.rint() == version
    d.end()


@given(opt_text, opt_text, opt_text, int64)
def test_reconfig_layout(j: str | None, lv: str | None, m: str | None, cid: int) -> None:
    d = frame_parts(9, ser.Reconfig(j, lv, m, cid))
    assert (d.ustring(), d.ustring(), d.ustring(), d.rlong()) == (j, lv, m, cid)
    d.end()


@given(int32, text, data, data)
def test_auth_and_sasl_layout(t: int, scheme: str, auth: bytes | None, token: bytes | None) -> None:
    d = frame_parts(-4, ser.Auth(t, scheme, auth))
    assert (d.rint(), d.ustring(), d.buffer()) == (t, scheme, auth)
    d.end()
    d = frame_parts(7, ser.SASL(token))
    assert d.buffer() == token
    d.end()


@given(int64, str_lists, str_lists, str_lists, str_lists, str_lists)
def test_set_watches_layout(
    zxid: int, a: list[str], b: list[str], c: list[str], p: list[str], r: list[str]
) -> None:
    d = frame_parts(-8, ser.SetWatches(zxid, a, b, c))
    assert [d.rlong()] + [d.vector(d.ustring) for _ in range(3)] == [zxid, a, b, c]
    d.end()
    d = frame_parts(-8, ser.SetWatches2(zxid, a, b, c, p, r))
    assert [d.rlong()] + [d.vector(d.ustring) for _ in range(5)] == [zxid, a, b, c, p, r]
    d.end()


def test_empty_body_requests() -> None:
    for req, opcode in ((ser.Ping(), 11), (ser.Close(), -11), (ser.WhoAmI(), 107)):
        assert req.type == opcode and req.serialize() == b""


@given(int64, int32, int64, data, st.booleans())
def test_connect_layout(zxid: int, timeout: int, sid: int, pw: bytes | None, ro: bool) -> None:
    frame = ser.encode_connect(ser.Connect(0, zxid, timeout, sid, pw, ro))
    d = Dec(frame)
    assert d.rint() == len(frame) - 4
    assert (d.rint(), d.rlong(), d.rint(), d.rlong(), d.buffer(), d.rbool()) == (
        0,
        zxid,
        timeout,
        sid,
        pw,
        ro,
    )
    d.end()


@given(int32, int64, st.binary(min_size=16, max_size=16), st.none() | st.booleans())
def test_connect_response_round_trip(timeout: int, sid: int, pw: bytes, ro: bool | None) -> None:
    payload = i32(0) + i32(timeout) + i64(sid) + buf(pw) + (b"" if ro is None else bytes([ro]))
    resp = ser.parse_connect_response(payload)
    assert resp == (0, timeout, sid, pw, bool(ro))


@st.composite
def multi_ops(draw: st.DrawFn) -> list[Any]:
    op = st.one_of(
        st.builds(ser.Create, paths, data, acls, st.integers(0, 3), include_stat=st.booleans()),
        st.builds(lambda p, d, a: ser.Create(p, d, a, 4, container=True), paths, data, acls),
        st.builds(
            lambda p, d, t: ser.Create(p, d, [], 5, ttl=t), paths, data, st.integers(1, 2**40 - 1)
        ),
        st.builds(ser.Delete, paths, int32),
        st.builds(ser.SetData, paths, data, int32),
        st.builds(ser.CheckVersion, paths, int32),
    )
    return draw(st.lists(op, max_size=6))


@given(multi_ops())
def test_transaction_layout(ops: list[Any]) -> None:
    d = frame_parts(12, ser.Transaction(ops))
    for op in ops:
        wire_type = 1 if op.type == 15 else op.type
        assert (d.rint(), d.rbool(), d.rint()) == (wire_type, False, -1)
        if isinstance(op, ser.Create):
            assert (d.ustring(), d.buffer()) == (op.path, op.data)
            assert d.vector(d.acl) == [(a.perms, a.id.scheme, a.id.id) for a in op.acl]
            assert d.rint() == op.flags
            if op.type == 21:
                assert d.rlong() == op.ttl
        elif isinstance(op, ser.SetData):
            assert (d.ustring(), d.buffer(), d.rint()) == (op.path, op.data, op.version)
        else:
            assert (d.ustring(), d.rint()) == (op.path, op.version)
    assert (d.rint(), d.rbool(), d.rint()) == (-1, True, -1)
    d.end()


@given(multi_ops(), stats, st.data())
def test_transaction_results_round_trip(ops: list[Any], stat: ZnodeStat, draw: Any) -> None:
    parts: list[bytes] = []
    expected: list[Any] = []
    for op in ops:
        if draw.draw(st.booleans()):
            err = draw.draw(st.sampled_from([0, -2, -101, -103, -110]))
            parts.append(_multi_error(err))
            expected.append(exc.EXCEPTIONS[err])
            continue
        if isinstance(op, ser.Create):
            rtype = 15 if op.type in (19, 21) else 1
            body = ustr(op.path) + (stat_bytes(stat) if rtype == 15 else b"")
            parts.append(i32(rtype) + b"\x00" + i32(0) + body)
            expected.append(op.path)
        elif isinstance(op, ser.SetData):
            parts.append(i32(5) + b"\x00" + i32(0) + stat_bytes(stat))
            expected.append(stat)
        else:
            parts.append(i32(op.type) + b"\x00" + i32(0))
            expected.append(True)
    results = ser.Transaction(ops).deserialize(Reader(b"".join(parts) + ser.MULTI_END))
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        if isinstance(want, type):
            assert type(got) is want
        else:
            assert got == want


# ---------------------------------------------------------------------------------------------
# Responses built by hand, parsed by deserialize


@given(stats, data, acls, st.none() | str_lists, text, int32)
def test_responses(
    stat: ZnodeStat,
    value: bytes | None,
    acl: list[ACL],
    children: list[str] | None,
    path: str,
    n: int,
) -> None:
    sb = stat_bytes(stat)
    kids = children or []
    cases: list[tuple[Any, bytes, Any]] = [
        (ser.Exists(path), sb, stat),
        (ser.GetData(path), buf(value) + sb, (value, stat)),
        (ser.SetData(path, b""), sb, stat),
        (ser.GetACL(path), acl_bytes(acl), None),
        (ser.SetACL(path, acl), sb, stat),
        (ser.GetChildren(path), str_vector(children), kids),
        (ser.GetChildren2(path), str_vector(children) + sb, (kids, stat)),
        (ser.Sync(path), ustr(path), path),
        (ser.GetEphemerals(path), str_vector(children), kids),
        (ser.GetAllChildrenNumber(path), i32(n), n),
        (ser.Reconfig(None, None, "x", -1), buf(value) + sb, (value, stat)),
        (ser.SASL(b""), buf(value), value),
        (ser.Delete(path), b"", True),
        (ser.CheckWatches(path, 1), b"", True),
        (ser.RemoveWatches(path, 1), b"", True),
        (ser.AddWatch(path, 0), i32(0), True),
        (ser.AddWatch(path, 0), b"", True),
        (ser.Auth(0, "digest", b""), b"", True),
        (ser.SetWatches(0, [], [], []), b"", True),
        (ser.Ping(), b"", True),
        (ser.Close(), b"", True),
    ]
    for req, payload, expected in cases:
        if isinstance(req, ser.GetACL):
            payload, expected = payload + sb, (acl, stat)
        r = Reader(payload)
        assert req.deserialize(r) == expected, req
        assert r.remaining() == 0


@given(st.lists(st.tuples(text, text), max_size=5))
def test_whoami_response(infos: list[tuple[str, str]]) -> None:
    payload = i32(len(infos)) + b"".join(ustr(a) + ustr(b) for a, b in infos)
    assert ser.WhoAmI().deserialize(Reader(payload)) == [ClientInfo(a, b) for a, b in infos]
    assert ser.WhoAmI().deserialize(Reader(i32(-1))) == []


@given(int32, int64, int32, int32, int32, paths)
def test_header_and_event_round_trip(
    xid: int, zxid: int, err: int, etype: int, state: int, path: str
) -> None:
    r = Reader(i32(xid) + i64(zxid) + i32(err) + i32(etype) + i32(state) + ustr(path))
    assert ser.read_reply_header(r) == (xid, zxid, err)
    assert ser.read_watcher_event(r) == (etype, state, path)
