"""A small demo/test application: HTTP echo with fault knobs, or a TCP echo server.

    python -m mesh.devstack.echo_app --name api --port 8080 [--host 127.0.0.1] [--tcp]

HTTP: every path answers JSON describing the request and who served it; `/health` answers
200 (or 503 while `/_control/health?status=fail` is in force). Faults for resilience
tests are set at run time with `/_control/faults?fail_percent=20&status=503&delay=2s`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from dataclasses import dataclass

from aiohttp import web

from mesh.durations import parse_duration


@dataclass
class Faults:
    fail_percent: float = 0.0
    status: int = 503
    delay: float = 0.0
    healthy: bool = True


def make_app(name: str, instance: str) -> web.Application:
    faults = Faults()
    counts = {"requests": 0}

    async def control_faults(request: web.Request) -> web.Response:
        q = request.query
        faults.fail_percent = float(q.get("fail_percent", faults.fail_percent))
        faults.status = int(q.get("status", faults.status))
        faults.delay = parse_duration(q["delay"]) if "delay" in q else faults.delay
        return web.json_response(vars(faults))

    async def control_health(request: web.Request) -> web.Response:
        faults.healthy = request.query.get("status", "pass") == "pass"
        return web.json_response({"healthy": faults.healthy})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(counts)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"healthy": faults.healthy}, status=200 if faults.healthy else 503)

    async def echo(request: web.Request) -> web.StreamResponse:
        counts["requests"] += 1
        body = await request.read()
        if faults.delay:
            await asyncio.sleep(faults.delay)
        status = faults.status if random.uniform(0, 100) < faults.fail_percent else 200
        payload = {
            "service": name,
            "instance": instance,
            "method": request.method,
            "path": request.path_qs,
            "headers": dict(request.headers),
            "body_bytes": len(body),
        }
        return web.json_response(payload, status=status, headers={"x-served-by": instance})

    app = web.Application()
    app.router.add_get("/_control/faults", control_faults)
    app.router.add_get("/_control/health", control_health)
    app.router.add_get("/_control/stats", stats)
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def _tcp_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(name: str, instance: str, host: str, port: int, tcp: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if tcp:
        server = await asyncio.start_server(_tcp_echo, host, port, reuse_address=True)
        bound = server.sockets[0].getsockname()[1]
        print(json.dumps({"name": name, "port": bound, "mode": "tcp"}), flush=True)
        await stop.wait()
        server.close()
        return
    runner = web.AppRunner(make_app(name, instance), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    print(json.dumps({"name": name, "port": port, "mode": "http"}), flush=True)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="echo_app")
    p.add_argument("--name", required=True)
    p.add_argument("--instance", default="")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tcp", action="store_true")
    args = p.parse_args(argv)
    asyncio.run(serve(args.name, args.instance or f"{args.name}-{args.port}", args.host, args.port, args.tcp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
