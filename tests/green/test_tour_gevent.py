"""examples/tour_gevent.py against a real ZooKeeper, with recording step/show/check helpers
(the tour's own helpers print; these keep what was said)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from .flavours import flavour

pytestmark = pytest.mark.integration

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tour_gevent.py")


def test_tour_gevent_runs_its_steps(zk_hosts: str) -> None:
    flavour("gevent")  # skips when gevent is missing
    spec = importlib.util.spec_from_file_location("tour_gevent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    steps: list[str] = []
    shown: list[str] = []
    checks: list[tuple[bool, str]] = []

    module.tour_gevent(
        zk_hosts, steps.append, shown.append, lambda ok, text: checks.append((ok, text))
    )

    assert len(steps) == 6, steps
    assert checks and all(ok for ok, _ in checks), [text for ok, text in checks if not ok]
    assert any("watch fired: type=CHANGED" in line for line in shown), shown
