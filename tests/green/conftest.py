"""Fixtures for the tests of the green handlers without monkey-patching: the hub runs in the
test's own thread, so every wait of a test body goes through the flavour (see
``flavours.py``). In a monkey-patched run only the patching library's handler is tested."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .flavours import PROCESS_KINDS, Flavour, flavour

WAIT = 5.0  # bound on every wait that should succeed


@pytest.fixture(params=[name for name in PROCESS_KINDS if name != "threading"])
def kind(request: pytest.FixtureRequest) -> Flavour:
    """The flavour under test (skipped when its library is not installed)."""
    return flavour(request.param)


@pytest.fixture
def handler(kind: Flavour) -> Iterator[Any]:
    """A started handler of the flavour, stopped afterwards."""
    handler = kind.handler()
    handler.start()
    yield handler
    handler.stop()


def drain(kind: Flavour, handler: Any, queue: str = "callback_queue") -> None:
    """Wait until everything queued so far on one worker has run."""
    done = kind.event()
    getattr(handler, queue).put(done.set)
    assert done.wait(WAIT), f"the {queue} worker did not drain"
