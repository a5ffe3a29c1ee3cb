"""``remove_watch``: forget one watch function; the server's watch goes with the last one."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from kazoo.client import KazooClient
from kazoo.protocol.states import WatcherType


def watched_paths(client: KazooClient) -> str:
    client.sync("/")  # after the reply, every removal queued before it has been handled
    return client.command(b"wchp")


def test_only_the_named_function_is_forgotten(
    make_client: Callable[..., KazooClient], helpers: Any
) -> None:
    zk = make_client()
    zk.create("/n", b"0")
    first, second = helpers.EventLog(), helpers.EventLog()
    zk.get("/n", watch=first)
    zk.get("/n", watch=second)
    zk.remove_watch("/n", first, WatcherType.DATA)
    server_path = zk.chroot + "/n"
    assert server_path in watched_paths(zk), "the other function still needs the server watch"
    zk.set("/n", b"1")
    assert second.wait_count(1)
    helpers.flush_watches(zk)
    assert first.items == [], "a forgotten function was called"


def test_the_last_function_takes_the_server_watch_away(
    make_client: Callable[..., KazooClient], helpers: Any
) -> None:
    zk = make_client()
    zk.create("/n", b"0")
    log = helpers.EventLog()
    zk.get_children("/n", watch=log)
    zk.exists("/n", watch=log)
    server_path = zk.chroot + "/n"
    assert server_path in watched_paths(zk)  # wchp lists data (and exist) watches
    zk.remove_watch("/n", log, WatcherType.DATA)
    assert server_path not in watched_paths(zk)
    zk.create("/n/child")  # the child watch was not removed: it fires
    assert log.wait_count(1)
    zk.get_children("/n", watch=log)
    zk.remove_watch("/n", log)  # ANY: the child watch too
    zk.create("/n/other")
    helpers.flush_watches(zk)
    assert len(log.items) == 1, "a removed child watch fired"
    zk.remove_watch("/n", log)  # unknown by now: ignored


def test_bad_watcher_type_is_a_clear_error(make_client: Callable[..., KazooClient]) -> None:
    zk = make_client()
    with pytest.raises(ValueError, match="watcher_type"):
        zk.remove_watch("/n", print, 9)
