"""kazoo.hosts.collect_hosts (API.md sections 2.1.1 and 2.6)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kazoo.hosts import collect_hosts


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ("127.0.0.1:2181", ([("127.0.0.1", 2181)], None)),
        ("localhost", ([("localhost", 2181)], None)),
        ("h1:1,h2:2,h3", ([("h1", 1), ("h2", 2), ("h3", 2181)], None)),
        ("h1:1,h2:2/app/x", ([("h1", 1), ("h2", 2)], "/app/x")),
        ("h1/", ([("h1", 2181)], None)),
        ("h1:2181/", ([("h1", 2181)], None)),
        ("[::1]:2181", ([("::1", 2181)], None)),
        ("[::1]", ([("::1", 2181)], None)),
        ("[fe80::1%eth0]:3000,10.0.0.1:1/c", ([("fe80::1%eth0", 3000), ("10.0.0.1", 1)], "/c")),
        (" h1:1 , h2:2 ", ([("h1", 1), ("h2", 2)], None)),
        ("h1:65535", ([("h1", 65535)], None)),
        ("h1:00080", ([("h1", 80)], None)),
        # the chroot is returned as written; the client validates it
        ("h1:1/a//b/", ([("h1", 1)], "/a//b/")),
    ],
)
def test_string_form(hosts: str, expected: tuple[list[tuple[str, int]], str | None]) -> None:
    assert collect_hosts(hosts) == expected


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["h1:1", "h2"], ([("h1", 1), ("h2", 2181)], None)),
        (["h1:1", "h2", "/chroot"], ([("h1", 1), ("h2", 2181)], "/chroot")),
        (["h1:1", "/"], ([("h1", 1)], None)),
        (("[::1]:5", " h2:6 "), ([("::1", 5), ("h2", 6)], None)),
    ],
)
def test_list_form(hosts: list[str], expected: tuple[list[tuple[str, int]], str | None]) -> None:
    assert collect_hosts(hosts) == expected


def test_list_form_does_not_mutate_the_argument() -> None:
    hosts = ["h1:1", "/chroot"]
    collect_hosts(hosts)
    assert hosts == ["h1:1", "/chroot"]


@pytest.mark.parametrize("hosts", [":2181", "", "h1:1,,h2:2", "h1:1,", "[]:2181", "/chroot"])
def test_entry_without_host_is_a_bad_hostname(hosts: str) -> None:
    with pytest.raises(ValueError, match="bad hostname"):
        collect_hosts(hosts)


def test_bad_hostname_message_is_exact_for_an_empty_host() -> None:
    with pytest.raises(ValueError) as info:
        collect_hosts(":2181")
    assert str(info.value) == "bad hostname"


@pytest.mark.parametrize(
    "hosts",
    [["/chroot"], [], ["h1", ":1"], ["h1", "/x", "h2"]],
)
def test_list_form_bad_hostname(hosts: list[str]) -> None:
    with pytest.raises(ValueError, match="bad hostname"):
        collect_hosts(hosts)


@pytest.mark.parametrize(
    "hosts",
    ["h1:abc", "h1:0", "h1:65536", "h1:-1", "h1:", "h1:1x", "h1:１２", "[::1]:", "h1: 5"],
)
def test_bad_port(hosts: str) -> None:
    with pytest.raises(ValueError, match="port"):
        collect_hosts(hosts)


@pytest.mark.parametrize("hosts", ["::1", "fe80::1:2181", "[::1", "[::1]x", "h 1:2", "a@b:1"])
def test_malformed_entries(hosts: str) -> None:
    with pytest.raises(ValueError, match="bad hostname"):
        collect_hosts(hosts)


def test_list_items_must_be_strings() -> None:
    with pytest.raises(TypeError):
        collect_hosts(["h1", 2181])  # type: ignore[list-item]


# -- property tests ------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_hostname = st.lists(_label, min_size=1, max_size=4).map(".".join)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(str)
_port = st.none() | st.integers(1, 65535)
_chroot = st.none() | st.lists(_label, min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)
_host = st.one_of(_hostname, _ipv4, _ipv6)


def _written(host: str, port: int | None) -> str:
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


@given(st.lists(st.tuples(_host, _port), min_size=1, max_size=6), _chroot)
def test_round_trip_both_forms(entries: list[tuple[str, int | None]], chroot: str | None) -> None:
    written = [_written(host, port) for host, port in entries]
    expected = ([(host, port or 2181) for host, port in entries], chroot)
    assert collect_hosts(",".join(written) + (chroot or "")) == expected
    assert collect_hosts(written + ([chroot] if chroot else [])) == expected


@given(_ipv6)
def test_ipv6_hosts_come_back_without_brackets(host: str) -> None:
    [(parsed, port)], _ = collect_hosts(f"[{host}]:99")
    assert ipaddress.ip_address(parsed) == ipaddress.ip_address(host)
    assert port == 99


@given(st.text(max_size=40))
def test_arbitrary_text_gives_a_result_or_value_error(text: str) -> None:
    try:
        hosts, chroot = collect_hosts(text)
    except ValueError:
        return
    assert hosts
    for host, port in hosts:
        assert host and 1 <= port <= 65535
    assert chroot is None or chroot.startswith("/")
