"""Which handler the clients of a test run use: ``KAZOO_TEST_HANDLER``.

``KAZOO_TEST_HANDLER`` is ``threading`` (the default when unset or empty), ``gevent`` or
``eventlet``. The fixtures of :mod:`kazoo.testing.pytest_plugin` and the clients made by
:class:`~kazoo.testing.KazooTestHarness` get a new handler of that kind from
:func:`make_handler`.

Tests written with plain threads (``threading.Event``, ``time.sleep``) need the process
monkey-patched before anything else is imported when a green handler is chosen; kazoo's
own suite does that with ``python tests/run_handler.py gevent|eventlet [pytest args]``.
The green handlers themselves do not need monkey-patching.

When the library of the chosen handler is not installed, :func:`make_handler` raises
:class:`unittest.SkipTest` (pytest reports a skip) naming the missing package.
"""

from __future__ import annotations

import importlib
import os
import sys
import unittest
from typing import Any

__all__ = ["HANDLER_ENV", "HANDLERS", "handler_name", "make_handler", "monkey_patched"]

HANDLER_ENV = "KAZOO_TEST_HANDLER"
HANDLERS = ("threading", "gevent", "eventlet")


def handler_name() -> str:
    """The handler named by ``KAZOO_TEST_HANDLER`` (``"threading"`` when unset).

    :raises ValueError: the variable names no known handler.
    """
    name = os.environ.get(HANDLER_ENV, "").strip().lower() or "threading"
    if name not in HANDLERS:
        raise ValueError(f"{HANDLER_ENV} must be one of {', '.join(HANDLERS)}, not {name!r}")
    return name


def _require(module: str, name: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise unittest.SkipTest(
            f"{HANDLER_ENV}={name}: {module} is not installed (pip install 'kazoo[{name}]'): {exc}"
        ) from None


def make_handler(name: str | None = None) -> Any:
    """A new, not started handler of kind ``name`` (default: :func:`handler_name`).

    :raises ValueError: ``name`` is not one of :data:`HANDLERS`.
    :raises unittest.SkipTest: the handler's library is not installed.
    """
    if name is None:
        name = handler_name()
    if name == "threading":
        from kazoo.handlers.threading import SequentialThreadingHandler

        return SequentialThreadingHandler()
    if name == "gevent":
        _require("gevent", name)
        from kazoo.handlers.gevent import SequentialGeventHandler

        return SequentialGeventHandler()
    if name == "eventlet":
        _require("eventlet", name)
        from kazoo.handlers.eventlet import SequentialEventletHandler

        return SequentialEventletHandler()
    raise ValueError(f"unknown handler {name!r}: use one of {', '.join(HANDLERS)}")


def monkey_patched() -> str | None:
    """``"gevent"`` or ``"eventlet"`` when that library has monkey-patched ``socket`` in this
    process, else ``None`` (neither library is imported to find out)."""
    if "gevent.monkey" in sys.modules:
        if sys.modules["gevent.monkey"].is_module_patched("socket"):
            return "gevent"
    if "eventlet.patcher" in sys.modules:
        if sys.modules["eventlet.patcher"].is_monkey_patched("socket"):
            return "eventlet"
    return None
