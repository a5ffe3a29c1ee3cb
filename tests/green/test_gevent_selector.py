"""The gevent handler's selector for the I/O driver: an OS selector waited on through the
hub, with one io watcher and one timer per waiter kept across waits, and a second waiter
(a guest: a caller reading the connection) woken first (see ``_HubSelector``)."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import WAIT
from .flavours import PROCESS_KINDS, Flavour, flavour, monkey_patched

pytestmark = pytest.mark.skipif(
    "gevent" not in PROCESS_KINDS, reason="this process is monkey-patched for another library"
)

#: The tests that wait in another OS thread (a monkey-patched ``threading`` makes greenlets).
os_threads = pytest.mark.skipif(bool(monkey_patched()), reason="threads are greenlets here")

#: Seconds between two looks while a test waits for the hub to do something (a zero sleep
#: may not let the hub poll: gevent runs callbacks queued meanwhile first).
POLL = 0.001


@pytest.fixture
def pair() -> Iterator[tuple[Flavour, Any, Any, Any]]:
    """(flavour, selector, writer, reader): a gevent selector watching ``reader``."""
    kind = flavour("gevent")
    handler = kind.handler()
    a, b = handler.create_socket_pair()
    selector = handler.new_selector()
    selector.register(b, selectors.EVENT_READ)
    yield kind, selector, a, b
    selector.close()
    a.close()
    b.close()


def ready(selector: Any, timeout: float | None) -> list[Any]:
    """The file objects ``selector.select(timeout)`` reports (the owner's wait)."""
    return [key.fileobj for key, _ in selector.select(timeout)]


def turn_until(kind: Flavour, condition: Any) -> bool:
    """Let the hub run until ``condition()`` holds (for at most ``WAIT`` seconds)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        kind.sleep(POLL)
    return True


def test_it_is_an_os_selector_with_a_descriptor(pair: tuple[Flavour, Any, Any, Any]) -> None:
    from kazoo.handlers.gevent import _HubSelector

    _, selector, _, _ = pair
    assert isinstance(selector, _HubSelector)
    assert isinstance(selector, selectors.BaseSelector)
    assert selector.fileno() >= 0


def test_keeps_one_watcher_and_one_timer_across_waits(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    kind, selector, a, b = pair
    watchers, timers = set(), set()
    for _ in range(20):
        kind.spawn(a.send, b"x")
        assert ready(selector, WAIT) == [b]
        assert b.recv(16) == b"x"
        watchers.add(id(selector._watcher))
        timers.add(id(selector._owner.timer))
        assert selector._watcher.active  # still listening, with nobody waiting
    assert len(watchers) == 1 and len(timers) == 1


def test_times_out_and_reports_nothing(pair: tuple[Flavour, Any, Any, Any]) -> None:
    _, selector, _, _ = pair
    began = time.monotonic()
    assert selector.select(0.02) == []
    assert time.monotonic() - began >= 0.02
    assert selector.select(0) == []
    assert selector.select(-1) == []


def test_ready_at_once_needs_no_hub(pair: tuple[Flavour, Any, Any, Any]) -> None:
    _, selector, a, b = pair
    a.send(b"x")
    assert ready(selector, 0) == [b]
    assert ready(selector, None) == [b]
    assert selector._watcher is None  # never parked: no watcher made


def test_a_wait_lets_woken_greenlets_run_first_even_when_ready(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    """What the owner woke before it looks (callers whose results it set) runs before the
    owner goes on, ready or not (a zero timeout is a plain poll: no switch)."""
    kind, selector, a, b = pair
    ran: list[int] = []
    a.send(b"x")
    kind.spawn(ran.append, 1)
    assert ready(selector, 0) == [b] and ran == []
    assert ready(selector, WAIT) == [b] and ran == [1]
    kind.spawn(ran.append, 2)
    assert ready(selector, None) == [b] and ran == [1, 2]


def test_wait_without_timeout(pair: tuple[Flavour, Any, Any, Any]) -> None:
    kind, selector, a, b = pair

    def later() -> None:
        kind.sleep(0.02)
        a.send(b"x")

    kind.spawn(later)
    assert ready(selector, None) == [b]


def test_stops_listening_while_nobody_waits(pair: tuple[Flavour, Any, Any, Any]) -> None:
    """The descriptor stays readable until its owner looks: a watcher kept meanwhile would
    fire on every hub turn, so it stops, and the next wait looks (and listens) again."""
    kind, selector, a, b = pair
    kind.spawn(a.send, b"x")
    assert ready(selector, WAIT) == [b]
    a.send(b"y")  # ready again while nobody waits on the selector
    assert turn_until(kind, lambda: not selector._watcher.active)
    assert ready(selector, WAIT) == [b]  # seen at once
    assert b.recv(16) == b"xy"
    kind.spawn(a.send, b"z")
    assert ready(selector, WAIT) == [b]  # listens again
    assert selector._watcher.active
    assert b.recv(16) == b"z"


def test_a_timer_firing_early_does_not_end_a_later_wait(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    kind, selector, a, b = pair
    kind.spawn(a.send, b"x")
    assert ready(selector, 0.05) == [b]  # its 0.05 s timer is kept
    assert b.recv(16) == b"x"

    def later() -> None:
        kind.sleep(0.2)
        a.send(b"y")

    kind.spawn(later)
    began = time.monotonic()
    # The kept timer fires after 0.05 s, during this wait: it looks and parks again.
    assert ready(selector, WAIT) == [b]
    assert time.monotonic() - began >= 0.15
    assert b.recv(16) == b"y"


def test_a_shorter_wait_gets_a_timer_of_its_own(pair: tuple[Flavour, Any, Any, Any]) -> None:
    kind, selector, a, b = pair
    kind.spawn(a.send, b"x")
    assert ready(selector, WAIT) == [b]  # a timer due in WAIT seconds is kept
    assert b.recv(16) == b"x"
    began = time.monotonic()
    assert selector.select(0.02) == []  # not held up by the kept timer
    assert time.monotonic() - began < WAIT / 2


def test_registration_changes_hold_for_a_parked_waiter(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    """The set lives in the kernel: a file registered by another greenlet while the owner
    is parked wakes it."""
    kind, selector, a, b = pair
    handler = kind.handler()
    c, d = handler.create_socket_pair()
    try:

        def other() -> None:
            selector.unregister(b)
            selector.register(d, selectors.EVENT_READ)
            a.send(b"ignored")
            c.send(b"x")

        kind.spawn(other)
        assert ready(selector, WAIT) == [d]
    finally:
        selector.unregister(d)
        c.close()
        d.close()


def test_one_waiter_at_a_time(pair: tuple[Flavour, Any, Any, Any]) -> None:
    import gevent.exceptions

    kind, selector, a, b = pair
    errors: list[BaseException] = []

    def second() -> None:
        try:
            selector.select(WAIT)
        except gevent.exceptions.ConcurrentObjectUseError as exc:
            errors.append(exc)
        a.send(b"x")

    kind.spawn(second)
    assert ready(selector, WAIT) == [b]
    assert len(errors) == 1


def test_not_from_the_hub(pair: tuple[Flavour, Any, Any, Any]) -> None:
    import gevent
    import gevent.exceptions

    kind, selector, _, _ = pair
    errors: list[BaseException] = []

    def in_the_hub() -> None:
        try:
            selector.select(WAIT)
        except gevent.exceptions.BlockingSwitchOutError as exc:
            errors.append(exc)

    gevent.get_hub().loop.run_callback(in_the_hub)
    assert turn_until(kind, lambda: errors)


def test_a_killed_waiter_leaves_the_selector_usable(pair: tuple[Flavour, Any, Any, Any]) -> None:
    kind, selector, a, b = pair
    waiter = kind.spawn(selector.select, WAIT)
    kind.sleep(0)  # it parks
    assert selector._owner.waiter is not None
    waiter.kill(block=True, timeout=WAIT)
    assert waiter.dead and selector._owner.waiter is None
    kind.spawn(a.send, b"x")
    assert ready(selector, WAIT) == [b]


# -- a guest (a caller reading the connection while the driver waits) --------------------------


def owner_waiting(kind: Flavour, selector: Any, timeout: float) -> tuple[Any, list[Any]]:
    """A greenlet parked in ``selector.select(timeout)``; what it returns lands in the list."""
    got: list[Any] = []
    owner = kind.spawn(lambda: got.append([key.fileobj for key, _ in selector.select(timeout)]))
    assert turn_until(kind, lambda: selector._owner.waiter is not None)
    return owner, got


def test_readiness_wakes_the_guest_not_the_parked_owner(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    kind, selector, a, b = pair
    owner, got = owner_waiting(kind, selector, WAIT)
    kind.spawn(a.send, b"x")
    assert [key.fileobj for key, _ in selector.guest_select(WAIT)] == [b]
    assert b.recv(16) == b"x"  # read by the guest: nothing left for the owner
    kind.sleep(0.01)  # hub turns (the watcher would fire again if anything were ready)
    assert got == [] and selector._owner.waiter is not None
    a.send(b"y")  # with no guest, readiness wakes the owner again
    owner.join(WAIT)
    assert got == [[b]]


def test_a_guest_times_out_and_the_owner_sleeps_on(pair: tuple[Flavour, Any, Any, Any]) -> None:
    kind, selector, a, b = pair
    owner, got = owner_waiting(kind, selector, WAIT)
    began = time.monotonic()
    assert selector.guest_select(0.02) == []
    assert time.monotonic() - began >= 0.02
    assert selector.guest_select(0) == []
    assert got == [] and selector._owner.waiter is not None
    kind.spawn(a.send, b"x")
    owner.join(WAIT)
    assert got == [[b]]


def test_the_owners_timer_wakes_only_the_owner(pair: tuple[Flavour, Any, Any, Any]) -> None:
    kind, selector, a, b = pair
    owner, got = owner_waiting(kind, selector, 0.05)
    guest: list[Any] = []
    kind.spawn(lambda: guest.append([key.fileobj for key, _ in selector.guest_select(WAIT)]))
    owner.join(WAIT)
    assert got == [[]]  # timed out, while the guest waits on
    assert selector._guest.waiter is not None and guest == []
    a.send(b"x")
    assert turn_until(kind, lambda: guest)
    assert guest == [[b]]


def test_a_guest_sees_what_is_ready_at_once(pair: tuple[Flavour, Any, Any, Any]) -> None:
    _, selector, a, b = pair
    a.send(b"x")
    assert [key.fileobj for key, _ in selector.guest_select(WAIT)] == [b]
    assert selector._watcher is None  # never parked


def test_one_guest_at_a_time(pair: tuple[Flavour, Any, Any, Any]) -> None:
    import gevent.exceptions

    kind, selector, a, b = pair
    errors: list[BaseException] = []

    def second() -> None:
        try:
            selector.guest_select(WAIT)
        except gevent.exceptions.ConcurrentObjectUseError as exc:
            errors.append(exc)
        a.send(b"x")

    kind.spawn(second)
    assert [key.fileobj for key, _ in selector.guest_select(WAIT)] == [b]
    assert len(errors) == 1


def test_close_stops_the_watchers_and_closes_the_descriptor(
    pair: tuple[Flavour, Any, Any, Any],
) -> None:
    kind, selector, a, b = pair
    kind.spawn(a.send, b"x")
    assert ready(selector, WAIT) == [b]
    assert b.recv(16) == b"x"
    assert selector.guest_select(0.01) == []  # the guest's wait has a timer too
    kind.spawn(a.send, b"y")
    assert ready(selector, WAIT) == [b]
    watcher, timers = selector._watcher, (selector._owner.timer, selector._guest.timer)
    fd = selector.fileno()
    assert watcher.active and all(timer is not None for timer in timers)
    selector.close()
    assert not watcher.active and not any(timer.active for timer in timers)
    assert selector._watcher is None
    assert selector._owner.timer is None and selector._guest.timer is None
    with pytest.raises(OSError):
        os.fstat(fd)


@os_threads
def test_waits_in_another_threads_hub(pair: tuple[Flavour, Any, Any, Any]) -> None:
    """A wait in another hub gets watchers of that hub; the old hub's are stopped there."""
    import gevent

    kind, selector, a, b = pair
    kind.spawn(a.send, b"x")
    assert ready(selector, WAIT) == [b]
    assert b.recv(16) == b"x"
    first = selector._watcher
    main_hub = gevent.get_hub()
    seen: list[Any] = []

    def elsewhere() -> None:  # a real thread, with a hub of its own
        gevent.spawn_later(0.01, a.send, b"y")
        seen.append(ready(selector, WAIT))
        seen.append(selector._hub is gevent.get_hub() is not main_hub)
        b.recv(16)
        gevent.get_hub().destroy(destroy_loop=True)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert seen == [[b], True]
    # Stopped by a callback of this thread's hub (the other thread could not do it).
    assert turn_until(kind, lambda: not first.active)
    kind.spawn(a.send, b"z")
    assert ready(selector, WAIT) == [b]  # back in this hub, with new watchers
    assert selector._hub is main_hub and selector._watcher is not first


@os_threads
def test_made_in_a_thread_without_a_hub_waits_in_this_one() -> None:
    kind = flavour("gevent")
    handler = kind.handler()
    made: list[Any] = []
    thread = threading.Thread(target=lambda: made.append(handler.new_selector()))
    thread.start()
    thread.join(WAIT)
    selector = made[0]
    a, b = handler.create_socket_pair()
    try:
        selector.register(b, selectors.EVENT_READ)
        kind.spawn(a.send, b"x")
        assert ready(selector, WAIT) == [b]
    finally:
        selector.close()
        a.close()
        b.close()


def test_the_os_selector_also_when_monkey_patched() -> None:
    """In a process patched by ``gevent.monkey.patch_all()`` the driver still gets an OS
    selector (with a descriptor), waited on through the hub."""
    script = "\n".join(
        [
            "from gevent import monkey",
            "monkey.patch_all()",
            "import selectors, gevent",
            "from kazoo.handlers.gevent import SequentialGeventHandler, _HubSelector",
            "handler = SequentialGeventHandler()",
            "selector = handler.new_selector()",
            "assert type(selector) is _HubSelector and selector.fileno() >= 0",
            "a, b = handler.create_socket_pair()",
            "selector.register(b, selectors.EVENT_READ)",
            "gevent.spawn_later(0.01, a.send, b'x')",
            "assert [key.fileobj for key, _ in selector.select(5)] == [b]",
            "assert b.recv(1) == b'x' and selector.select(0.01) == []",
            "selector.close()",
            "print('ok')",
        ]
    )
    import kazoo

    root = os.path.dirname(os.path.dirname(os.path.abspath(kazoo.__file__)))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
