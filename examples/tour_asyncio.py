"""The asyncio part of the kazoo tour: ``AsyncKazooClient``.

``examples/tour.py`` calls :func:`tour_asyncio` with its printing helpers. On its own:

    python examples/tour_asyncio.py 127.0.0.1:2181
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Callable

from kazoo.aio import AsyncKazooClient

WATCH_TIMEOUT = 10.0


async def tour_asyncio(
    hosts: str,
    step: Callable[[str], None],
    show: Callable[[str], None],
    check: Callable[[bool, str], None],
) -> None:
    root = f"/kazoo-aio-tour-{uuid.uuid4().hex[:8]}"

    step("asyncio: `async with AsyncKazooClient(hosts) as zk:` connects; every call is awaited")
    async with AsyncKazooClient(hosts=hosts, timeout=10.0) as zk:
        show(f"connected: state={zk.state}, session id {zk.client_id[0]:#x}")  # type: ignore[index]
        await zk.ensure_path(f"{root}/items")

        step("ten creates and ten gets at once with asyncio.gather (pipelined on one connection)")
        paths = await asyncio.gather(
            *(zk.create(f"{root}/items/{i}", str(i * i).encode()) for i in range(10))
        )
        values = await asyncio.gather(*(zk.get(path) for path in paths))
        show(f"-> {[data.decode() for data, _stat in values]}")
        check([data for data, _ in values] == [str(i * i).encode() for i in range(10)], "gather")

        step("`async for data, stat, event in zk.watch_data(path)`: now, then on every change")
        config = f"{root}/config"
        await zk.create(config, b"v1")
        seen = []

        async def follow() -> None:
            async for data, stat, event in zk.watch_data(config):
                kind = event.type if event is not None else "(first read)"
                show(f"watch_data -> {data!r}, version {stat.version if stat else None}, {kind}")
                seen.append(data)
                if data == b"v3":
                    break  # leaving the loop removes the watch
                await zk.set(config, b"v3" if data == b"v2" else b"v2")

        await asyncio.wait_for(follow(), WATCH_TIMEOUT)
        check(seen == [b"v1", b"v2", b"v3"], "watch_data followed every change")

        step("a transaction: `async with zk.transaction() as t:` commits on a clean exit")
        async with zk.transaction() as t:
            t.create(f"{root}/from-transaction", b"tx")
            t.set_data(config, b"set in a transaction")
            t.check(f"{root}/items", 0)
        show(f"committed: {t.committed}; config is now {(await zk.get(config))[0]!r}")
        check((await zk.get(config))[0] == b"set in a transaction", "transaction applied")

        step(f"delete({root!r}, recursive=True), then leaving `async with` stops and closes")
        show(f"-> {await zk.delete(root, recursive=True)!r}")
        check(await zk.exists(root) is None, "recursive delete")
    show(f"state={zk.state}")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python examples/tour_asyncio.py HOSTS", file=sys.stderr)
        return 2
    from tour import check, show, step  # the helpers of examples/tour.py

    asyncio.run(tour_asyncio(argv[1], step, show, check))
    print("\nThe asyncio tour is over.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
