"""One test-side view of each handler flavour (threading, gevent, eventlet).

Tests of a green handler *without* monkey-patching run the handler's hub in the test's own
thread, so the test must wait the green way too: a ``threading.Event.wait`` there would
block the hub, and the callbacks the test waits for would never run. A :class:`Flavour`
gives the waits, sleeps and greenlet counts of its kind; :func:`flavour` skips the test
when the library is not installed.
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
import time
from typing import Any, Callable

import pytest

from kazoo.testing.handlers import HANDLERS, handler_name, make_handler, monkey_patched

#: The handler kinds a test can use in this process: all of them when nothing is
#: monkey-patched (the green hubs then run in the test's thread), else only the one the run
#: is patched for.
PROCESS_KINDS = [handler_name()] if monkey_patched() else list(HANDLERS)

#: Longest single green sleep while polling a condition that another OS thread notifies.
POLL = 0.002


def open_sockets() -> int:
    """Number of socket file descriptors this process holds (Linux /proc)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the fd of the listing itself, already gone
            continue
        if target.startswith("socket:"):
            count += 1
    return count


class Flavour:
    """What a test needs to know about one handler kind."""

    name = "threading"
    green = False

    def handler(self) -> Any:
        return make_handler(self.name)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def spawn(self, func: Callable[..., Any], *args: Any) -> Any:
        thread = threading.Thread(target=func, args=args, daemon=True)
        thread.start()
        return thread

    def event(self) -> Any:
        """An event the test body can wait on and a callback of the handler can set."""
        return threading.Event()

    def pause(self, cond: threading.Condition, left: float) -> None:
        """Wait on ``cond`` (held) for at most ``left`` seconds, letting the handler run."""
        cond.wait(left)

    def hub(self) -> None:
        """Create the hub now, so it is part of a leak check's baseline."""

    def live_greenlets(self) -> int:
        return 0

    def __repr__(self) -> str:
        return self.name


class _Green(Flavour):
    green = True

    def pause(self, cond: threading.Condition, left: float) -> None:
        # ``cond`` is notified from another OS thread (the fake server's): poll it, yielding
        # to the hub between looks instead of blocking the thread in cond.wait().
        cond.release()
        try:
            self.sleep(min(left, POLL))
        finally:
            cond.acquire()

    def live_greenlets(self) -> int:
        import greenlet

        gc.collect()
        return sum(
            1 for obj in gc.get_objects() if isinstance(obj, greenlet.greenlet) and not obj.dead
        )


class Gevent(_Green):
    name = "gevent"

    def __init__(self) -> None:
        import gevent
        import gevent.event

        self._gevent = gevent
        self._event = gevent.event.Event

    def sleep(self, seconds: float) -> None:
        self._gevent.sleep(seconds)

    def spawn(self, func: Callable[..., Any], *args: Any) -> Any:
        return self._gevent.spawn(func, *args)

    def event(self) -> Any:
        return self._event()

    def hub(self) -> None:
        self._gevent.get_hub()


class Eventlet(_Green):
    name = "eventlet"

    def __init__(self) -> None:
        import eventlet
        import eventlet.hubs
        from eventlet.green import threading as green_threading

        self._eventlet = eventlet
        self._hubs = eventlet.hubs
        self._event = green_threading.Event

    def sleep(self, seconds: float) -> None:
        self._eventlet.sleep(seconds)

    def spawn(self, func: Callable[..., Any], *args: Any) -> Any:
        return self._eventlet.spawn(func, *args)

    def event(self) -> Any:
        return self._event()

    def hub(self) -> None:
        self._hubs.get_hub()


_BY_HANDLER_NAME = {
    "sequential_threading_handler": "threading",
    "sequential_gevent_handler": "gevent",
    "sequential_eventlet_handler": "eventlet",
}


def flavour_of(handler: Any) -> Flavour:
    """The :class:`Flavour` of a handler instance."""
    return flavour(_BY_HANDLER_NAME[handler.name])


def flavour(name: str) -> Flavour:
    """The :class:`Flavour` called ``name``; skips the test when its library is missing."""
    if name == "threading":
        return Flavour()
    try:
        importlib.import_module(name)
    except ImportError as exc:  # not installed, or not importable here
        pytest.skip(f"{name} is not installed (pip install 'kazoo[{name}]'): {exc}")
    return Gevent() if name == "gevent" else Eventlet()
