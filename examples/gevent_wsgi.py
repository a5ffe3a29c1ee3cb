"""A tiny gevent WSGI service keeping counters in ZooKeeper, all requests on one client.

    python examples/gevent_wsgi.py 127.0.0.1:2181 [PORT]

    curl localhost:8080/counter/visits              -> 0
    curl -X POST localhost:8080/counter/visits      -> 1

``GET /counter/<name>`` reads a counter (0 while it does not exist); ``POST
/counter/<name>`` adds one and answers the new value. gevent.pywsgi serves every request
in a greenlet of its own, and all of them share one ``KazooClient`` on
``SequentialGeventHandler``: a request waiting for ZooKeeper lets the others run. An
increment is a compare-and-set: read the value and its version, write value + 1 for that
version only, and start again if another request got there first -- so concurrent POSTs
never lose a count. Nothing here needs ``gevent.monkey``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, Callable

import gevent.pywsgi

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.handlers.gevent import SequentialGeventHandler

ROOT = "/counters"
_COUNTER = re.compile(r"/counter/([A-Za-z0-9_.-]{1,64})")

StartResponse = Callable[..., Any]


def read(zk: KazooClient, name: str) -> int:
    """The counter's value, 0 if it does not exist."""
    try:
        data, _stat = zk.get(f"{ROOT}/{name}")
    except NoNodeError:
        return 0
    return int(data or b"0")


def increment(zk: KazooClient, name: str) -> int:
    """Add one to the counter (creating it at 1); return the new value."""
    path = f"{ROOT}/{name}"
    while True:
        try:
            data, stat = zk.get(path)
        except NoNodeError:
            try:
                zk.create(path, b"1", makepath=True)
                return 1
            except NodeExistsError:
                continue  # another request created it first: read it
        value = int(data or b"0") + 1
        try:
            zk.set(path, str(value).encode(), version=stat.version)
            return value
        except BadVersionError:
            continue  # another request changed it since our read: read it again


def make_app(zk: KazooClient) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application, on the started client ``zk``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _COUNTER.fullmatch(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        if match is None:
            return _respond(start_response, "404 Not Found", "try /counter/<name>\n")
        if method == "GET":
            value = read(zk, match.group(1))
        elif method == "POST":
            value = increment(zk, match.group(1))
        else:
            return _respond(start_response, "405 Method Not Allowed", "GET or POST\n")
        return _respond(start_response, "200 OK", f"{value}\n")

    return app


def _respond(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if status.startswith("405"):
        headers.append(("Allow", "GET, POST"))
    start_response(status, headers)
    return [body]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python examples/gevent_wsgi.py HOSTS [PORT]", file=sys.stderr)
        return 2
    port = int(argv[2]) if len(argv) > 2 else 8080
    zk = KazooClient(hosts=argv[1], handler=SequentialGeventHandler())
    zk.start(timeout=15)
    server = gevent.pywsgi.WSGIServer(("127.0.0.1", port), make_app(zk))
    print(f"serving on http://127.0.0.1:{port}/counter/<name> (Ctrl-C ends)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=5)
        zk.stop()
        zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
