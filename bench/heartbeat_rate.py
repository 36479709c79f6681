"""Idle requests per second from one host's registrar to Consul, by number of local services.

    .venv/bin/python -m bench.heartbeat_rate [--services 1 20] [--seconds 10]

Registers N local services through the agent's own Registrar on an in-process Consul stand-in
(real sockets on loopback), lets the heartbeat run for `--seconds` and counts every request the
client makes (its outcome hook). With one liveness check per host the rate does not grow with N
(docs/operations.md, "Liveness"). Not part of `make test` or `make bench`; run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import warnings

from mesh.config.model import ConsulSettings, LocalService
from mesh.consul.client import ConsulClient, Outcome
from mesh.consul.registrar import Registrar
from mesh.devstack.consul.server import ConsulServer


async def rate(services: int, seconds: float) -> float:
    server = ConsulServer(trust_domain="bench.consul")
    await server.start()
    calls = 0

    def count(_: Outcome) -> None:
        nonlocal calls
        calls += 1

    client = ConsulClient(ConsulSettings(address=server.url), None, observe=count)
    registrar = Registrar(client, node="bench-host", advertise_address="127.0.0.1", inbound_port=20000)
    heartbeat: asyncio.Task[None] | None = None
    try:
        local = tuple(LocalService(name=f"svc{i}", id=f"svc{i}-bench", port=8000 + i) for i in range(services))
        await registrar.register(local)
        heartbeat = asyncio.create_task(registrar.run())
        calls, started = 0, time.monotonic()
        await asyncio.sleep(seconds)
        return calls / (time.monotonic() - started)
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await client.close()
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    # py-consul's aio client passes aiohttp's deprecated ssl arguments.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for n in args.services:
        print(f"{n:>4} local services: {asyncio.run(rate(n, args.seconds)):.2f} requests/s to Consul while idle")


if __name__ == "__main__":
    main()
