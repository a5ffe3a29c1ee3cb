"""kazoo.testing.handlers (KAZOO_TEST_HANDLER) and the launcher tests/run_handler.py."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

import pytest

from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.testing.handlers import HANDLER_ENV, handler_name, make_handler, monkey_patched

ROOT = Path(__file__).resolve().parents[2]


def test_handler_name_defaults_to_threading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HANDLER_ENV, raising=False)
    assert handler_name() == "threading"
    monkeypatch.setenv(HANDLER_ENV, "  ")
    assert handler_name() == "threading"
    monkeypatch.setenv(HANDLER_ENV, " GEvent ")
    assert handler_name() == "gevent"


def test_a_bad_handler_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HANDLER_ENV, "twisted")
    with pytest.raises(ValueError, match="threading, gevent, eventlet.*'twisted'"):
        handler_name()
    with pytest.raises(ValueError, match="unknown handler 'asyncio'"):
        make_handler("asyncio")


def test_make_handler_builds_a_fresh_handler_of_each_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HANDLER_ENV, raising=False)
    first, second = make_handler(), make_handler()
    assert isinstance(first, SequentialThreadingHandler) and first is not second
    assert not first.running
    assert make_handler("gevent").name == "sequential_gevent_handler"
    assert make_handler("eventlet").name == "sequential_eventlet_handler"
    monkeypatch.setenv(HANDLER_ENV, "eventlet")
    assert make_handler().name == "sequential_eventlet_handler"


def test_a_missing_library_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gevent", None)  # import gevent now raises ImportError
    with pytest.raises(unittest.SkipTest, match=r"gevent is not installed .*kazoo\[gevent\]"):
        make_handler("gevent")


def test_this_process_is_not_monkey_patched() -> None:
    assert monkey_patched() is None


def _launch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "run_handler.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_launcher_usage() -> None:
    done = _launch("twisted")
    assert done.returncode == 2
    assert "usage:" in done.stderr and "threading,gevent,eventlet" in done.stderr


def test_launcher_without_the_library_skips_its_tests(tmp_path: Path) -> None:
    stub = tmp_path / "gevent"
    stub.mkdir()
    (stub / "__init__.py").write_text("raise ImportError('gevent is hidden for this test')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    test = "tests/drivers/test_driver_basics.py::test_connect_and_get_round_trip"
    done = _launch("gevent", "-q", "-rs", "-p", "no:cacheprovider", test, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gevent is not installed" in done.stdout
    assert "2 passed, 1 skipped" in done.stdout  # threading and eventlet ran, gevent skipped
