"""examples/tour_asyncio.py runs against the real ensemble and checks what it shows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TOUR = Path(__file__).resolve().parents[2] / "examples" / "tour_asyncio.py"


async def test_the_asyncio_tour(zk_hosts: str) -> None:
    spec = importlib.util.spec_from_file_location("tour_asyncio", TOUR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    steps: list[str] = []
    shown: list[str] = []
    failed: list[str] = []

    def check(condition: bool, text: str) -> None:
        if not condition:
            failed.append(text)

    await module.tour_asyncio(zk_hosts, steps.append, shown.append, check)
    assert failed == []
    assert len(steps) == 5
    assert "watch_data -> b'v3', version 2, CHANGED" in shown
    assert shown[-1] == "state=LOST"
