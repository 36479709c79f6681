"""`python -m bench.scale_standin`: the dev stack with every Consul request counted, for the scale run.

The same stand-ins as `python -m mesh.devstack` (one JSON ready line on stdout, SIGTERM stops
them), plus a middleware on the Consul stand-in's application that counts requests by kind:

- `ttl`: check updates (`/v1/agent/check/pass|warn|fail|update/`), the agents' heartbeats;
- `blocking`: reads with an `index` (blocking queries, counted when they arrive);
- `write`: other PUT/POST/DELETE (registrations, KV and intention writes);
- `read`: the rest.

`GET /_bench/requests` answers the counts as JSON and is not counted itself. The middleware is
the bench's own (nothing in mesh/devstack counts requests): it wraps the server's `make_app`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from mesh.devstack.consul import ConsulServer
from mesh.devstack.stack import DevStack

COUNTS_PATH = "/_bench/requests"
_TTL_PREFIXES = tuple(f"/v1/agent/check/{verb}/" for verb in ("pass", "warn", "fail", "update"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_kind(method: str, path: str, has_index: bool) -> str:
    """Which count a request goes to (pure)."""
    if path.startswith(_TTL_PREFIXES):
        return "ttl"
    if method != "GET":
        return "write"
    return "blocking" if has_index else "read"


def count_requests(server: ConsulServer, counts: Counter[str]) -> None:
    """Make every application `server` builds from now on count its requests into `counts`."""
    make_app = server.make_app

    @web.middleware
    async def counting(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == COUNTS_PATH:
            return web.json_response(dict(counts))
        counts[request_kind(request.method, request.path, "index" in request.query)] += 1
        return await handler(request)

    def make() -> web.Application:
        app = make_app()
        app.middlewares.append(counting)
        return app

    server.make_app = make  # type: ignore[method-assign]


async def _serve(consul_port: int, vault_port: int) -> int:
    stack = DevStack(consul_port=consul_port, vault_port=vault_port)
    counts: Counter[str] = Counter()
    count_requests(stack.consul, counts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
    except (OSError, ValueError) as exc:
        print(f"scale stand-in: cannot start: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stack.info()), flush=True)
    await stop.wait()
    await stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale_standin", description=__doc__)
    p.add_argument("--consul-port", type=int, required=True)
    p.add_argument("--vault-port", type=int, required=True)
    args = p.parse_args(argv)
    return asyncio.run(_serve(args.consul_port, args.vault_port))


if __name__ == "__main__":
    sys.exit(main())
