"""Contender ordering of the lock family, without a server: sequence numbers as signed
integers ordered modulo 2**32, and which markers block which lock kind."""

from __future__ import annotations

import pytest

from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.recipe.lock import Lock, ReadLock, WriteLock


class FakeClient:
    handler = SequentialThreadingHandler()

    def create(self, *args, **kwargs):  # a plain method: a blocking client
        raise AssertionError("not used")


def predecessor(lock: Lock, names: list[str], mine: str) -> str | None:
    return lock._predecessor(lock._sorted(names), mine)


def test_order_follows_the_server_counter_across_the_wrap() -> None:
    lock = Lock(FakeClient(), "/l")
    in_order = [
        "a__lock__2147483646",
        "b__lock__2147483647",
        "c__lock__-2147483648",  # the counter wrapped: these come last
        "d__lock__-2147483647",
    ]
    shuffled = [in_order[i] for i in (2, 0, 3, 1)]
    assert [name for _, name, _ in lock._sorted(shuffled)] == in_order
    assert predecessor(lock, shuffled, "c__lock__-2147483648") == "b__lock__2147483647"
    assert predecessor(lock, shuffled, "a__lock__2147483646") is None


@pytest.mark.parametrize(
    ("kind", "mine", "expected"),
    [
        (Lock, "m__lock__0000000005", "b__lock__0000000002"),  # readers are invisible
        (WriteLock, "m__lock__0000000005", "c__rlock__0000000004"),
        (ReadLock, "m__rlock__0000000005", "b__lock__0000000002"),
    ],
)
def test_which_markers_block(kind, mine, expected) -> None:
    names = [
        "a__rlock__0000000001",
        "b__lock__0000000002",
        "junk-0000000003",
        "c__rlock__0000000004",
    ]
    names.append(mine)
    assert predecessor(kind(FakeClient(), "/l"), names, mine) == expected


def test_extra_patterns_block_too() -> None:
    lock = Lock(FakeClient(), "/l", extra_lock_patterns=["-lock-"])
    names = ["_c_x-lock-0000000001", "m__lock__0000000002"]
    assert predecessor(lock, names, "m__lock__0000000002") == "_c_x-lock-0000000001"
    assert predecessor(Lock(FakeClient(), "/l"), names, "m__lock__0000000002") is None
