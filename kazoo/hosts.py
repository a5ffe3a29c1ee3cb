"""Parsing of the ``hosts`` argument of the client."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["collect_hosts"]

DEFAULT_PORT = 2181

# Characters that cannot appear in a host name or address as written in ``hosts``.
_BAD_HOST_CHARS = frozenset(" \t\r\n\v\f/[]@,")


def collect_hosts(hosts: str | Iterable[str]) -> tuple[list[tuple[str, int]], str | None]:
    """Split ``hosts`` into ``([(host, port), ...], chroot or None)``.

    ``hosts`` is either ``"h1:p1,h2:p2/chroot"`` (the chroot is everything from the first
    ``/``) or an iterable of ``"host[:port]"`` strings whose last item may be ``"/chroot"``.
    IPv6 addresses are written in brackets (``"[::1]:2181"`` gives ``("::1", 2181)``); the
    port defaults to 2181. A chroot of ``"/"`` means none. The chroot is returned as written:
    the client validates it as a path.

    :raises ValueError: ``"bad hostname"`` for an entry without a host (or no entry at all,
        or an IPv6 address without brackets), or a message naming the bad port (not a number,
        or outside 1-65535).
    :raises TypeError: an item of the iterable form is not a ``str``.
    """
    if isinstance(hosts, str):
        text = hosts.strip()
        slash = text.find("/")
        chroot = text[slash:] if slash >= 0 else None
        entries = (text[:slash] if slash >= 0 else text).split(",")
    else:
        entries = []
        for item in hosts:
            if not isinstance(item, str):
                raise TypeError(f"hosts entries must be str, not {type(item).__name__}")
            entries.append(item.strip())
        chroot = None
        if entries and entries[-1].startswith("/"):
            chroot = entries.pop()
    if chroot == "/":
        chroot = None
    if not entries:
        raise ValueError("bad hostname: no hosts given")
    return [_parse_entry(entry.strip()) for entry in entries], chroot


def _parse_entry(entry: str) -> tuple[str, int]:
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            raise ValueError(f"bad hostname: missing ']' in {entry!r}")
        host, rest = entry[1:end], entry[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad hostname: unexpected {rest!r} after ']'")
        port_text = rest[1:] if rest else None
    elif entry.count(":") > 1:
        raise ValueError(f"bad hostname: write IPv6 addresses in brackets ([::1]:2181): {entry!r}")
    else:
        host, sep, port_text_ = entry.partition(":")
        port_text = port_text_ if sep else None
    if not host or not _BAD_HOST_CHARS.isdisjoint(host):
        raise ValueError("bad hostname")
    return host, _parse_port(port_text)


def _parse_port(text: str | None) -> int:
    if text is None:
        return DEFAULT_PORT
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"bad port {text!r}: not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"bad port {port}: outside 1-65535")
    return port
