"""Sequence suffixes of recipe nodes, compared as integers (API §2.9).

The server appends the parent's creation counter as ``%010d``. It is a signed 32-bit
number, so after 2**31 - 1 it continues at ``-2147483648`` (11 characters, sign
included). Nodes are ordered by ``seq % 2**32``: the wrapped, negative numbers sort
after the largest positive ones, which is the order the server handed them out in.

A suffix can only be read when the text before it is known (``"entry-100-"`` followed by
``2147483647`` looks like ``"entry-100"`` followed by ``-2147483647``), so recipes split
their names at their own marker first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["order_key", "parse_sequence", "split_at_marker"]

_SEQ = re.compile(r"-?\d{9,10}")
_WRAP = 2**32


def parse_sequence(text: str) -> int | None:
    """The signed number a ``%010d`` suffix stands for, or ``None`` if ``text`` is not one."""
    if len(text) not in (10, 11) or _SEQ.fullmatch(text) is None:
        return None
    if len(text) == 11 and text[0] != "-":
        return None
    value = int(text)
    if not -(2**31) <= value < 2**31:
        return None
    return value


def order_key(seq: int) -> int:
    """Sort key of a sequence number: the order in which the server handed them out."""
    return seq % _WRAP


def split_at_marker(name: str, markers: Iterable[str]) -> tuple[str, int] | None:
    """``(marker, seq)`` when ``name`` ends in one of ``markers`` plus a sequence suffix.

    The rightmost marker occurrence wins (an identifier before it may contain anything).
    """
    best: tuple[int, str] | None = None
    for marker in markers:
        at = name.rfind(marker)
        if at >= 0 and (best is None or at > best[0]):
            best = (at, marker)
    if best is None:
        return None
    at, marker = best
    seq = parse_sequence(name[at + len(marker) :])
    return None if seq is None else (marker, seq)
