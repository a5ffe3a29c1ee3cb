"""examples/gevent_wsgi.py against a real ZooKeeper: concurrent requests through one shared
client. Runs unpatched in the main test process and monkey-patched in the gevent one
(``python tests/run_handler.py gevent ... tests/green/test_gevent_wsgi.py``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from kazoo.client import KazooClient

from .flavours import flavour

pytestmark = pytest.mark.integration

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "gevent_wsgi.py")
WAIT = 15.0
POSTS = 50


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gevent_wsgi_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def service(zk_hosts: str) -> Iterator[tuple[int, KazooClient]]:
    """The example's app on a free port, with its shared client; stopped afterwards."""
    flavour("gevent")  # skips when gevent is missing
    import gevent.pywsgi

    from kazoo.handlers.gevent import SequentialGeventHandler

    example = load_example()
    zk = KazooClient(zk_hosts, timeout=15.0, handler=SequentialGeventHandler())
    zk.start(timeout=WAIT)
    server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), example.make_app(zk), log=None)
    server.start()
    try:
        yield server.server_port, zk
    finally:
        server.stop(timeout=5)
        zk.stop()
        zk.close()


def request(port: int, method: str, path: str) -> tuple[int, str]:
    """One HTTP/1.0 request on a gevent socket: ``(status, body)``."""
    import gevent.socket

    with gevent.socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(f"{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_concurrent_posts_keep_an_exact_count(service: tuple[int, Any]) -> None:
    import gevent

    port, zk = service
    assert request(port, "GET", "/counter/hits") == (200, "0\n")
    jobs = [gevent.spawn(request, port, "POST", "/counter/hits") for _ in range(POSTS)]
    gevent.joinall(jobs, timeout=WAIT, raise_error=True)
    assert all(job.ready() for job in jobs), "some requests did not finish"
    answers = [job.value for job in jobs]
    assert all(status == 200 for status, _ in answers), answers
    # every increment saw a different value: none was lost, none counted twice
    assert sorted(int(body) for _, body in answers) == list(range(1, POSTS + 1))
    assert request(port, "GET", "/counter/hits") == (200, f"{POSTS}\n")
    assert zk.get("/counters/hits")[0] == str(POSTS).encode()


def test_bad_paths_and_methods(service: tuple[int, Any]) -> None:
    port, _zk = service
    assert request(port, "GET", "/nothing-here")[0] == 404
    assert request(port, "GET", "/counter/bad/name")[0] == 404
    assert request(port, "DELETE", "/counter/hits")[0] == 405
