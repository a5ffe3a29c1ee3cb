"""Unit tests for kazoo.protocol.watches (PROTOCOL.md §8.3-8.6, API.md §2.1.4, §3.1)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from kazoo.protocol.watches import (
    SET_WATCHES_MAX_BYTES,
    WatchBatch,
    WatchKind,
    WatchRegistry,
)

CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4
ALL_EVENTS = (CREATED, DELETED, CHANGED, CHILD)
WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_RECURSIVE = 1, 2, 3, 4, 5

D, E, C, P, R = (
    WatchKind.DATA,
    WatchKind.EXIST,
    WatchKind.CHILD,
    WatchKind.PERSISTENT,
    WatchKind.PERSISTENT_RECURSIVE,
)
ONE_SHOT = (D, E, C)


def make() -> WatchRegistry[str]:
    return WatchRegistry()


# --------------------------------------------------------------------------- enum values


def test_kind_values() -> None:
    assert [int(k) for k in (D, E, C, P, R)] == [1, 2, 3, 4, 5]
    assert SET_WATCHES_MAX_BYTES == 131072


# --------------------------------------------------------------------------- fan-out table

#: event -> kinds (on the event's own path) that receive it
FAN_OUT = {
    CREATED: {D, E, P, R},
    CHANGED: {D, E, P, R},
    DELETED: {D, E, C, P, R},
    CHILD: {C, P},
}


@pytest.mark.parametrize("event", ALL_EVENTS)
@pytest.mark.parametrize("kind", list(WatchKind))
def test_fan_out_table(event: int, kind: WatchKind) -> None:
    reg = make()
    reg.add(kind, "/n", "w")
    got = reg.fire(event, "/n")
    if kind in FAN_OUT[event]:
        assert got == ["w"]
    else:
        assert got == []
    fired_one_shot = kind in ONE_SHOT and kind in FAN_OUT[event]
    assert reg.count(kind, "/n") == (0 if fired_one_shot else 1)
    assert len(reg) == (0 if fired_one_shot else 1)


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_fan_out_all_kinds_at_once(event: int) -> None:
    reg = make()
    for kind in WatchKind:
        reg.add(kind, "/n", f"w{int(kind)}")
    got = reg.fire(event, "/n")
    assert got == [f"w{int(k)}" for k in WatchKind if k in FAN_OUT[event]]


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_other_path_not_fired(event: int) -> None:
    reg = make()
    for kind in WatchKind:
        reg.add(kind, "/a/b", "w")
    assert reg.fire(event, "/a/c") == []
    assert reg.fire(event, "/a/b/c") == ([] if event == CHILD else ["w"])  # recursive only
    assert len(reg) == 5


@pytest.mark.parametrize("event", [-1, 0, 5, 6, 7, 99, -112])
def test_unknown_or_none_event_matches_nothing(event: int) -> None:
    reg = make()
    for kind in WatchKind:
        reg.add(kind, "/", "w")
        reg.add(kind, "/n", "w")
    assert reg.fire(event, "/n") == []
    assert reg.fire(event, "/") == []
    assert len(reg) == 10


# --------------------------------------------------------------------------- one-shot / persistent


def test_one_shot_fires_once() -> None:
    reg = make()
    reg.add(D, "/n", "d")
    reg.add(C, "/n", "c")
    assert reg.fire(CHANGED, "/n") == ["d"]
    assert reg.fire(CHANGED, "/n") == []
    assert reg.count(C, "/n") == 1
    assert reg.fire(CHILD, "/n") == ["c"]
    assert reg.fire(CHILD, "/n") == []
    assert len(reg) == 0
    assert not reg.has("/n", WT_ANY)


def test_deleted_consumes_data_exist_and_child() -> None:
    reg = make()
    reg.add(D, "/n", "d")
    reg.add(E, "/n", "e")
    reg.add(C, "/n", "c")
    assert reg.fire(DELETED, "/n") == ["d", "e", "c"]
    assert len(reg) == 0


def test_exist_then_created() -> None:
    reg = make()
    reg.add(E, "/n", "e")
    assert reg.fire(CHILD, "/n") == []
    assert reg.fire(CREATED, "/n") == ["e"]
    assert reg.count(E, "/n") == 0


def test_persistent_stays() -> None:
    reg = make()
    reg.add(P, "/n", "p")
    for event in ALL_EVENTS * 3:
        assert reg.fire(event, "/n") == ["p"]
    assert reg.count(P, "/n") == 1
    assert reg.fire(CHANGED, "/n/child") == []
    assert reg.fire(CHANGED, "/") == []


def test_recursive_on_self_ancestors_and_root() -> None:
    reg = make()
    reg.add(R, "/", "root")
    reg.add(R, "/a", "a")
    reg.add(R, "/a/b", "ab")
    reg.add(R, "/a/b/c/d", "deeper")
    for event in (CREATED, CHANGED, DELETED):
        assert reg.fire(event, "/a/b/c") == ["root", "a", "ab"]
        assert reg.fire(event, "/a") == ["root", "a"]
        assert reg.fire(event, "/") == ["root"]
        assert reg.fire(event, "/x") == ["root"]
    assert len(reg) == 4


def test_recursive_never_gets_child_events() -> None:
    reg = make()
    reg.add(R, "/", "root")
    reg.add(R, "/a", "a")
    assert reg.fire(CHILD, "/a") == []
    assert reg.fire(CHILD, "/a/b") == []
    assert reg.fire(CHILD, "/") == []


def test_recursive_sibling_prefix_is_not_ancestor() -> None:
    reg = make()
    reg.add(R, "/a", "a")
    reg.add(R, "/a/b", "ab")
    assert reg.fire(CREATED, "/ab") == []
    assert reg.fire(CREATED, "/ab/c") == []
    assert reg.fire(CREATED, "/a/bc") == ["a"]
    assert reg.fire(CREATED, "/a/b/c") == ["a", "ab"]


def test_recursive_walk_skipped_without_recursive_watches() -> None:
    reg = make()
    reg.add(P, "/a", "p")
    reg.add(R, "/a", "r")
    assert reg.discard(R, "/a", "r")
    assert not reg._tables[R]  # the walk is guarded by this emptiness check
    assert reg.fire(CREATED, "/a/b") == []


def test_watcher_called_once_per_fire_across_kinds_and_paths() -> None:
    reg = make()
    reg.add(R, "/", "w")
    reg.add(P, "/a", "other")
    reg.add(D, "/a", "w")
    reg.add(C, "/a", "w")
    reg.add(P, "/a", "w")
    reg.add(R, "/a", "w")
    assert reg.fire(DELETED, "/a") == ["w", "other"]
    assert reg.count(D, "/a") == 0
    assert reg.count(C, "/a") == 0
    assert reg.count(P, "/a") == 2
    assert reg.count(R, "/a") == 1
    assert len(reg) == 4


def test_registration_order_across_kinds() -> None:
    reg = make()
    reg.add(C, "/n", "c")
    reg.add(P, "/n", "p")
    reg.add(D, "/n", "d")
    reg.add(R, "/", "r")
    reg.add(E, "/n", "e")
    assert reg.fire(DELETED, "/n") == ["c", "p", "d", "r", "e"]


# ---------------------------------------------------------- dedupe / discard / count


@dataclass(frozen=True)
class Handler:
    name: str

    def __call__(self, event: object) -> None:
        pass


class Owner:
    def on_event(self, event: object) -> None:
        pass


def test_dedupe_by_equality() -> None:
    reg: WatchRegistry[Handler] = WatchRegistry()
    reg.add(D, "/n", Handler("x"))
    reg.add(D, "/n", Handler("x"))
    reg.add(D, "/n", Handler("y"))
    assert reg.count(D, "/n") == 2
    assert len(reg) == 2
    assert reg.fire(CHANGED, "/n") == [Handler("x"), Handler("y")]


def test_dedupe_bound_methods() -> None:
    owner = Owner()
    reg: WatchRegistry[object] = WatchRegistry()
    reg.add(P, "/n", owner.on_event)
    reg.add(P, "/n", owner.on_event)  # a fresh but equal bound method
    assert reg.count(P, "/n") == 1
    assert reg.discard(P, "/n", owner.on_event)
    assert len(reg) == 0


def test_readd_keeps_first_position() -> None:
    reg = make()
    reg.add(D, "/n", "a")
    reg.add(D, "/n", "b")
    reg.add(D, "/n", "a")
    assert reg.fire(CHANGED, "/n") == ["a", "b"]


def test_same_watcher_different_kinds_counts_separately() -> None:
    reg = make()
    reg.add(D, "/n", "w")
    reg.add(E, "/n", "w")
    reg.add(D, "/m", "w")
    assert len(reg) == 3
    assert reg.count(D, "/n") == 1
    assert reg.count(E, "/n") == 1


def test_discard() -> None:
    reg = make()
    reg.add(P, "/n", "a")
    reg.add(P, "/n", "b")
    assert reg.discard(P, "/n", "a")
    assert not reg.discard(P, "/n", "a")
    assert not reg.discard(D, "/n", "b")
    assert not reg.discard(P, "/other", "b")
    assert reg.count(P, "/n") == 1
    assert reg.discard(P, "/n", "b")
    assert reg.count(P, "/n") == 0
    assert not reg.has("/n", WT_PERSISTENT)
    assert len(reg) == 0
    assert reg.fire(CHANGED, "/n") == []


def test_discard_then_readd_moves_to_end() -> None:
    reg = make()
    reg.add(D, "/n", "a")
    reg.add(D, "/n", "b")
    reg.discard(D, "/n", "a")
    reg.add(D, "/n", "a")
    assert reg.fire(CHANGED, "/n") == ["b", "a"]


def test_count_unknown() -> None:
    reg = make()
    assert reg.count(D, "/nothing") == 0
    assert len(reg) == 0
    assert not reg


# --------------------------------------------------------------------------- remove / has

#: WatcherType -> kinds it selects
WATCHER_TYPES = {
    WT_CHILDREN: {C},
    WT_DATA: {D, E},
    WT_ANY: {D, E, C, P, R},
    WT_PERSISTENT: {P},
    WT_RECURSIVE: {R},
}


@pytest.mark.parametrize("watcher_type", sorted(WATCHER_TYPES))
def test_remove_and_has_by_watcher_type(watcher_type: int) -> None:
    reg = make()
    for kind in WatchKind:
        reg.add(kind, "/n", f"w{int(kind)}")
        reg.add(kind, "/other", f"w{int(kind)}")
    selected = WATCHER_TYPES[watcher_type]
    assert reg.has("/n", watcher_type)
    removed = reg.remove("/n", watcher_type)
    assert removed == [f"w{int(k)}" for k in WatchKind if k in selected]
    assert not reg.has("/n", watcher_type)
    for kind in WatchKind:
        assert reg.count(kind, "/n") == (0 if kind in selected else 1)
        assert reg.count(kind, "/other") == 1
    assert len(reg) == 10 - len(selected)
    assert reg.remove("/n", watcher_type) == []


@pytest.mark.parametrize("kind", list(WatchKind))
def test_has_per_kind(kind: WatchKind) -> None:
    reg = make()
    reg.add(kind, "/n", "w")
    for watcher_type, kinds in WATCHER_TYPES.items():
        assert reg.has("/n", watcher_type) == (kind in kinds)
        assert not reg.has("/m", watcher_type)


def test_remove_dedupes_watchers_in_registration_order() -> None:
    reg = make()
    reg.add(E, "/n", "b")
    reg.add(D, "/n", "a")
    reg.add(D, "/n", "b")
    assert reg.remove("/n", WT_DATA) == ["b", "a"]
    assert len(reg) == 0


def test_remove_accepts_intenum() -> None:
    from kazoo.protocol.states import WatcherType

    reg = make()
    reg.add(C, "/n", "c")
    assert reg.has("/n", WatcherType.CHILDREN)
    assert reg.remove("/n", WatcherType.CHILDREN) == ["c"]


@pytest.mark.parametrize("bad", [0, 6, -1, 100])
def test_bad_watcher_type(bad: int) -> None:
    reg = make()
    reg.add(D, "/n", "w")
    with pytest.raises(ValueError, match="WatcherType"):
        reg.remove("/n", bad)
    with pytest.raises(ValueError, match="WatcherType"):
        reg.has("/n", bad)
    assert len(reg) == 1


# --------------------------------------------------------------------------- drain / registrations


def test_drain() -> None:
    reg = make()
    reg.add(P, "/p", "w")
    reg.add(D, "/n", "a")
    reg.add(C, "/n", "a")
    reg.add(R, "/", "w")
    reg.add(E, "/m", "b")
    assert reg.drain() == [
        ("w", P, "/p"),
        ("a", D, "/n"),
        ("a", C, "/n"),
        ("w", R, "/"),
        ("b", E, "/m"),
    ]
    assert len(reg) == 0
    assert reg.drain() == []
    assert reg.set_watches_batches() == []
    for event in ALL_EVENTS:
        assert reg.fire(event, "/n") == []
        assert reg.fire(event, "/p") == []
    reg.add(D, "/n", "a")
    assert reg.fire(CHANGED, "/n") == ["a"]


def test_registrations_is_non_destructive() -> None:
    reg = make()
    reg.add(P, "/p", "p")
    reg.add(D, "/n", "d")
    reg.add(R, "/r", "r")
    assert reg.registrations(P, R) == [("p", P, "/p"), ("r", R, "/r")]
    assert reg.registrations() == [("p", P, "/p"), ("d", D, "/n"), ("r", R, "/r")]
    assert len(reg) == 3


def test_repr_has_counts() -> None:
    reg = make()
    reg.add(D, "/n", "secret-ish")
    text = repr(reg)
    assert "data=1" in text
    assert "secret-ish" not in text


# --------------------------------------------------------------------------- set_watches_batches


def path_of(length: int, tag: str = "x") -> str:
    """A distinct server path of exactly ``length`` characters."""
    assert length >= 2
    return ("/" + tag + "-" * length)[:length]


def test_batches_empty() -> None:
    assert make().set_watches_batches() == []


def test_batches_each_distinct_path_once_per_kind() -> None:
    reg = make()
    reg.add(D, "/n", "a")
    reg.add(D, "/n", "b")
    reg.add(E, "/n", "a")
    reg.add(C, "/m", "a")
    reg.add(C, "/n", "a")
    reg.add(P, "/n", "a")
    reg.add(R, "/", "a")
    reg.add(R, "/", "b")
    assert reg.set_watches_batches() == [
        WatchBatch(["/n"], ["/n"], ["/m", "/n"], ["/n"], ["/"]),
    ]


def test_batches_kind_order_and_needs_v2() -> None:
    reg = make()
    reg.add(R, "/r", "w")
    reg.add(P, "/p", "w")
    reg.add(C, "/c", "w")
    reg.add(E, "/e", "w")
    reg.add(D, "/d", "w")
    # max 4: /d + /e reach 4, /c + /p reach 4, /r is left over
    batches = reg.set_watches_batches(4)
    assert batches == [
        WatchBatch(["/d"], ["/e"], [], [], []),
        WatchBatch([], [], ["/c"], ["/p"], []),
        WatchBatch([], [], [], [], ["/r"]),
    ]
    assert [b.needs_v2 for b in batches] == [False, True, True]


def test_batch_needs_v2() -> None:
    assert not WatchBatch(["/a"], ["/b"], ["/c"], [], []).needs_v2
    assert WatchBatch([], [], [], ["/a"], []).needs_v2
    assert WatchBatch([], [], [], [], ["/a"]).needs_v2
    assert not WatchBatch([], [], [], [], []).needs_v2


def test_batches_exact_boundary_closes_batch() -> None:
    reg = make()
    reg.add(D, "/abcd", "w")  # 5
    reg.add(D, "/efgh", "w")  # 5 -> total 10 == max: batch closes
    reg.add(D, "/i", "w")
    assert reg.set_watches_batches(10) == [
        WatchBatch(["/abcd", "/efgh"], [], [], [], []),
        WatchBatch(["/i"], [], [], [], []),
    ]


def test_batches_exact_boundary_no_trailing_empty_batch() -> None:
    reg = make()
    reg.add(D, "/abcd", "w")
    reg.add(E, "/efgh", "w")
    assert reg.set_watches_batches(10) == [WatchBatch(["/abcd"], ["/efgh"], [], [], [])]


def test_batches_one_below_boundary_keeps_filling() -> None:
    reg = make()
    reg.add(D, "/abc", "w")  # 4
    reg.add(D, "/efgh", "w")  # 5 -> 9 < 10
    reg.add(D, "/i", "w")  # 2 -> 11, crosses: stays in the first batch
    reg.add(D, "/j", "w")
    assert reg.set_watches_batches(10) == [
        WatchBatch(["/abc", "/efgh", "/i"], [], [], [], []),
        WatchBatch(["/j"], [], [], [], []),
    ]


def test_batches_single_huge_path() -> None:
    reg = make()
    big = path_of(50)
    reg.add(C, "/a", "w")
    reg.add(P, big, "w")
    reg.add(R, "/b", "w")
    assert reg.set_watches_batches(10) == [
        WatchBatch([], [], ["/a"], [big], []),
        WatchBatch([], [], [], [], ["/b"]),
    ]


def test_batches_max_bytes_one_gives_one_path_each() -> None:
    reg = make()
    for name in ("/a", "/b", "/c"):
        reg.add(D, name, "w")
    assert reg.set_watches_batches(1) == [
        WatchBatch(["/a"], [], [], [], []),
        WatchBatch(["/b"], [], [], [], []),
        WatchBatch(["/c"], [], [], [], []),
    ]


@pytest.mark.parametrize("bad", [0, -1])
def test_batches_bad_max_bytes(bad: int) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        make().set_watches_batches(bad)


def test_batches_count_characters_not_bytes() -> None:
    reg = make()
    reg.add(D, "/éé", "w")  # 3 characters, 5 UTF-8 bytes
    reg.add(D, "/ü", "w")  # 2 characters -> 5 < 6
    reg.add(D, "/z", "w")  # 7: crosses
    reg.add(D, "/y", "w")
    assert reg.set_watches_batches(6) == [
        WatchBatch(["/éé", "/ü", "/z"], [], [], [], []),
        WatchBatch(["/y"], [], [], [], []),
    ]


def test_batches_default_128k_exact() -> None:
    reg = make()
    paths = [path_of(1024, f"{i:04d}") for i in range(129)]
    for p in paths:
        reg.add(D, p, "w")
    assert 128 * 1024 == sum(map(len, paths[:128]))
    batches = reg.set_watches_batches()
    assert [len(b.data) for b in batches] == [128, 1]
    assert batches[0].data == paths[:128]
    assert batches[1].data == paths[128:]
    assert not any(b.needs_v2 for b in batches)


def test_batches_default_128k_one_short() -> None:
    reg = make()
    paths = [path_of(1024, f"{i:04d}") for i in range(127)] + [path_of(1023, "last")]
    for p in paths:
        reg.add(D, p, "w")
    reg.add(E, "/e", "w")  # 131071 + 2 -> crosses, still in batch one
    reg.add(E, "/f", "w")
    batches = reg.set_watches_batches()
    assert len(batches) == 2
    assert batches[0].data == paths
    assert batches[0].exist == ["/e"]
    assert batches[1] == WatchBatch([], ["/f"], [], [], [])


def test_batches_default_128k_overshoot_across_kinds() -> None:
    reg = make()
    data = [path_of(1000, f"{i:04d}") for i in range(131)]  # 131000 < 131072
    for p in data:
        reg.add(D, p, "w")
    big = path_of(5000, "big")
    reg.add(P, big, "w")  # crosses to 136000: stays, batch needs v2
    reg.add(C, "/c", "w")  # child comes before persistent in the walk
    reg.add(R, "/r", "w")
    batches = reg.set_watches_batches()
    assert batches == [
        WatchBatch(data, [], ["/c"], [big], []),
        WatchBatch([], [], [], [], ["/r"]),
    ]
    assert [b.needs_v2 for b in batches] == [True, True]


def test_batches_cover_everything_and_respect_limit() -> None:
    reg = make()
    for i in range(3000):
        kind = list(WatchKind)[i % 5]
        reg.add(kind, path_of(20 + i % 200, f"{i}"), "w")
    limit = 10_000
    batches = reg.set_watches_batches(limit)
    for kind_index, kind in enumerate(WatchKind):
        walked = [p for b in batches for p in b[kind_index]]
        assert walked == [p for _, k, p in reg.registrations(kind) if k == kind]
    for batch in batches:
        sizes = [len(p) for lst in batch for p in lst]
        assert sum(sizes) - sizes[-1] < limit  # only the last path may overshoot
    for batch in batches[:-1]:
        assert sum(len(p) for lst in batch for p in lst) >= limit
    totals = [sum(len(p) for lst in b for p in lst) for b in batches]
    assert all(t < limit + 220 for t in totals)
    assert totals[-1] > 0


# --------------------------------------------------------------------------- model-based test

PATHS = ("/", "/a", "/a/b", "/a/b/c", "/ab", "/ab/c", "/b")
WATCHERS = ("w0", "w1", "w2", "w3")
KIND_OF_EVENT = {
    CREATED: {D, E},
    CHANGED: {D, E},
    DELETED: {D, E, C},
    CHILD: {C},
}


def is_self_or_ancestor(candidate: str, path: str) -> bool:
    if candidate == "/":
        return path.startswith("/")
    return path == candidate or path.startswith(candidate + "/")


class RegistryMachine(RuleBasedStateMachine):
    """Compares WatchRegistry with a flat list of registrations."""

    def __init__(self) -> None:
        super().__init__()
        self.reg: WatchRegistry[str] = WatchRegistry()
        self.model: list[tuple[WatchKind, str, str]] = []  # (kind, path, watcher), in order
        # per kind, watched paths in the order each became watched (SetWatches walk order)
        self.path_order: dict[WatchKind, list[str]] = {k: [] for k in WatchKind}

    def sync_paths(self) -> None:
        for kind, order in self.path_order.items():
            live = {p for k, p, _ in self.model if k == kind}
            order[:] = [p for p in order if p in live]
            order.extend(sorted(live - set(order)))  # at most one new path per step

    @rule(
        kind=st.sampled_from(list(WatchKind)),
        path=st.sampled_from(PATHS),
        watcher=st.sampled_from(WATCHERS),
    )
    def add(self, kind: WatchKind, path: str, watcher: str) -> None:
        self.reg.add(kind, path, watcher)
        if (kind, path, watcher) not in self.model:
            self.model.append((kind, path, watcher))
        self.sync_paths()

    @rule(event=st.sampled_from((*ALL_EVENTS, -1, 5)), path=st.sampled_from(PATHS))
    def fire(self, event: int, path: str) -> None:
        expected: list[str] = []
        kept: list[tuple[WatchKind, str, str]] = []
        for kind, p, w in self.model:
            one_shot_hit = kind in KIND_OF_EVENT.get(event, ()) and p == path
            hit = (
                one_shot_hit
                or (kind == P and p == path and event in ALL_EVENTS)
                or (
                    kind == R
                    and event in (CREATED, CHANGED, DELETED)
                    and is_self_or_ancestor(p, path)
                )
            )
            if hit and w not in expected:
                expected.append(w)
            if not one_shot_hit:
                kept.append((kind, p, w))
        self.model = kept
        self.sync_paths()
        assert self.reg.fire(event, path) == expected

    @rule(path=st.sampled_from(PATHS), watcher_type=st.sampled_from(sorted(WATCHER_TYPES)))
    def remove(self, path: str, watcher_type: int) -> None:
        kinds = WATCHER_TYPES[watcher_type]
        expected: list[str] = []
        for kind, p, w in self.model:
            if kind in kinds and p == path and w not in expected:
                expected.append(w)
        self.model = [r for r in self.model if not (r[0] in kinds and r[1] == path)]
        self.sync_paths()
        assert self.reg.remove(path, watcher_type) == expected

    @rule(
        kind=st.sampled_from(list(WatchKind)),
        path=st.sampled_from(PATHS),
        watcher=st.sampled_from(WATCHERS),
    )
    def discard(self, kind: WatchKind, path: str, watcher: str) -> None:
        present = (kind, path, watcher) in self.model
        if present:
            self.model.remove((kind, path, watcher))
            self.sync_paths()
        assert self.reg.discard(kind, path, watcher) == present

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def drain(self) -> None:
        expected = [(w, k, p) for k, p, w in self.model]
        self.model = []
        self.sync_paths()
        assert self.reg.drain() == expected

    @rule(max_bytes=st.integers(min_value=1, max_value=12))
    def batches(self, max_bytes: int) -> None:
        batches = self.reg.set_watches_batches(max_bytes)
        for index, kind in enumerate(WatchKind):
            walked = [p for b in batches for p in b[index]]
            assert walked == self.path_order[kind]
        kinds_walked = [index for b in batches for index, lst in enumerate(b) for _ in lst]
        assert kinds_walked == sorted(kinds_walked)  # data, exist, child, persistent, recursive
        for batch in batches:
            assert any(batch)
            assert batch.needs_v2 == bool(batch.persistent or batch.persistent_recursive)
            size = sum(len(p) for lst in batch for p in lst)
            last = [p for lst in batch for p in lst][-1]
            assert size - len(last) < max_bytes
        for batch in batches[:-1]:
            assert sum(len(p) for lst in batch for p in lst) >= max_bytes

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.reg) == len(self.model)
        for kind in WatchKind:
            for path in PATHS:
                n = sum(1 for k, p, _ in self.model if k == kind and p == path)
                assert self.reg.count(kind, path) == n
        for watcher_type, kinds in WATCHER_TYPES.items():
            for path in PATHS:
                want = any(k in kinds and p == path for k, p, _ in self.model)
                assert self.reg.has(path, watcher_type) == want
        assert self.reg.registrations() == [(w, k, p) for k, p, w in self.model]


RegistryMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestRegistryMachine = RegistryMachine.TestCase
