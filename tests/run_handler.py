"""Run pytest with every client on one handler, in a process patched for it.

    python tests/run_handler.py {threading,gevent,eventlet} [pytest arguments...]

For ``gevent`` / ``eventlet`` the process is monkey-patched *first*, before pytest or kazoo
is imported (``gevent.monkey.patch_all()`` / ``eventlet.monkey_patch()``): the tests wait
with ``threading.Event`` and friends, which must be green in such a run. Monkey-patching is
process-wide, which is why each handler gets a process of its own. ``KAZOO_TEST_HANDLER``
is then set for the fixtures (see ``kazoo.testing.handlers``). The exit status is pytest's.

When the handler's library is missing, nothing is patched and the run goes on: every test
that asks for a client is skipped, naming the missing package.
"""

from __future__ import annotations

import os
import sys
import warnings

HANDLERS = ("threading", "gevent", "eventlet")
#: eventlet warns, at import, that it is in maintenance mode. It is exactly what this run
#: tests, so that one warning (and only it) is not turned into an error.
EVENTLET_DEPRECATION = r"\s*Eventlet is deprecated"


def _patch(name: str) -> None:
    """Monkey-patch the process for ``name``; ImportError when its library is missing."""
    if name == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif name == "eventlet":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", EVENTLET_DEPRECATION)
            import eventlet
        eventlet.monkey_patch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in HANDLERS:
        choices = ",".join(HANDLERS)
        print(f"usage: python {sys.argv[0]} {{{choices}}} [pytest args]", file=sys.stderr)
        return 2
    name, args = argv[0], argv[1:]
    try:
        _patch(name)
    except ImportError as exc:
        print(f"run_handler: {name} is not installed ({exc}): its tests are skipped", flush=True)
    os.environ["KAZOO_TEST_HANDLER"] = name
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]  # this script's directory is no package root

    import pytest

    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
