from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kazoo.recipe._naming import order_key, parse_sequence, split_at_marker


def test_suffixes_the_server_writes() -> None:
    assert parse_sequence("0000000042") == 42
    assert parse_sequence("2147483647") == 2**31 - 1
    assert parse_sequence("-2147483648") == -(2**31)
    assert parse_sequence("-000000005") == -5


def test_text_that_is_not_a_suffix() -> None:
    for text in ("", "42", "00000000042", "2147483648", "abcdefghij", "+000000001", "12345678901"):
        assert parse_sequence(text) is None, text


def test_split_at_the_rightmost_marker() -> None:
    assert split_at_marker("abc__lock__0000000007", ["__lock__", "__rlock__"]) == ("__lock__", 7)
    assert split_at_marker("x__lock__y__rlock__0000000003", ["__lock__", "__rlock__"]) == (
        "__rlock__",
        3,
    )
    assert split_at_marker("entry-100-2147483647", ["entry-100-"]) == ("entry-100-", 2**31 - 1)
    assert split_at_marker("abc__lock__", ["__lock__"]) is None
    assert split_at_marker("abc", ["__lock__"]) is None


def test_wrapped_numbers_sort_after_the_largest_positive() -> None:
    seqs = [-(2**31), 2**31 - 1, 1]
    assert sorted(seqs, key=order_key) == [1, 2**31 - 1, -(2**31)]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_server_order_survives_the_wrap(counter: int) -> None:
    signed = counter - 2**32 if counter >= 2**31 else counter
    seq = parse_sequence(f"{signed:010d}")
    assert seq == signed
    assert order_key(seq) == counter
