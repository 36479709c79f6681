"""The Consul stand-in at scale: what one write costs with 1,000 endpoints and 200 watchers parked.

    .venv/bin/python -m bench.standin_scale [--services 200] [--instances 5] [--samples 30]

Registers `services x instances` Connect proxies on an in-process stand-in (real sockets on
loopback), parks one blocking `/v1/health/connect/<service>` watch per service (as host agents
keep them) plus a few KV watches, then times writes of three kinds, each until its own watcher
has the new answer and the server has answered one more request after it (so the work the write
caused, every wake-up included, is inside the figure, all of it on one event loop):

- `instance`: one instance re-registered with new meta (its service's watchers must wake);
- `kv`: one key written (only its KV watcher must wake);
- `check`: a TTL check on one instance flipped between passing and warning.

It prints p50/p99 of wall time per kind, the median CPU time of this process (server and client:
steadier than wall time on a shared machine) and, when the stand-in counts them, the wake-ups
per write. Not part
of `make test` or `make bench`; run it by hand to compare before and after a change to the stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from mesh.devstack.consul import ConsulServer

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
KV_WATCHES = 10


@dataclass
class Watcher:
    """One blocking watch re-issued after every answer, as a host agent's watch loop does."""

    url: str
    params: dict[str, str] = field(default_factory=dict)
    index: int = 0
    answers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            params = {**self.params, "index": str(self.index), "wait": "5m"} if self.index else self.params
            async with session.get(self.url, params=params) as resp:
                await resp.read()
                index = int(resp.headers.get("X-Consul-Index", "0"))
            if index != self.index:
                self.index = index
                self.answers += 1
                self.changed.set()


def _wakeups(server: ConsulServer) -> int | None:
    """The stand-in's count of woken blocking queries, where it keeps one."""
    watches = getattr(server.store.indexes, "watches", None)
    count = getattr(watches, "wakeups", None)
    return count if isinstance(count, int) else None


def _proxy(service: str, instance: int, meta: str) -> dict[str, Any]:
    return {
        "Name": f"{service}-sidecar-proxy",
        "ID": f"{service}-{instance}-sidecar-proxy",
        "Address": f"10.0.{instance}.1",
        "Port": 20000 + instance,
        "Kind": "connect-proxy",
        "Meta": {"rev": meta},
        "Proxy": {"DestinationServiceName": service, "DestinationServiceID": f"{service}-{instance}"},
    }


async def _measure(
    name: str,
    samples: int,
    server: ConsulServer,
    write: Callable[[int], Awaitable[Watcher]],
    barrier: Callable[[], Awaitable[None]],
) -> str:
    costs: list[float] = []
    cpu: list[float] = []
    wakes: list[int] = []
    for i in range(samples):
        before = _wakeups(server)
        started, started_cpu = time.perf_counter(), time.process_time()
        watcher = await write(i)
        await asyncio.wait_for(watcher.changed.wait(), 60)
        await barrier()
        costs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        after = _wakeups(server)
        if before is not None and after is not None:
            wakes.append(after - before)
    costs.sort()
    p99 = costs[min(len(costs) - 1, round(0.99 * (len(costs) - 1)))]
    woke = f", {statistics.mean(wakes):.1f} wake-ups/write" if wakes else ""
    return (
        f"{name:9} p50 {statistics.median(costs) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
        f"CPU p50 {statistics.median(cpu) * 1000:8.1f} ms{woke}"
    )


async def run(services: int, instances: int, samples: int) -> list[str]:
    server = ConsulServer(trust_domain=TRUST_DOMAIN)
    await server.start()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    tasks: list[asyncio.Task[None]] = []
    try:
        base = server.url
        names = [f"svc-{n:03d}" for n in range(services)]
        started = time.perf_counter()
        for name in names:
            for i in range(instances):
                async with session.put(f"{base}/v1/agent/service/register", json=_proxy(name, i, "0")) as resp:
                    resp.raise_for_status()
        check = {"Name": "ttl", "CheckID": "bench-ttl", "ServiceID": f"{names[0]}-0-sidecar-proxy", "TTL": "10m"}
        async with session.put(f"{base}/v1/agent/check/register", json=check) as resp:
            resp.raise_for_status()
        lines = [
            f"{services} services x {instances} instances = {services * instances} endpoints, "
            f"registered in {time.perf_counter() - started:.1f} s"
        ]
        health = {n: Watcher(f"{base}/v1/health/connect/{n}") for n in names}
        kv = [Watcher(f"{base}/v1/kv/bench/doc-{k}") for k in range(KV_WATCHES)]
        for watcher in [*health.values(), *kv]:
            tasks.append(asyncio.get_running_loop().create_task(watcher.run(session)))
        await asyncio.wait_for(asyncio.gather(*(w.changed.wait() for w in [*health.values(), *kv])), 120)
        while server.in_flight_requests < len(health) + len(kv):  # noqa: ASYNC110 - no event tells a query parked
            await asyncio.sleep(0.05)
        lines.append(f"{server.in_flight_requests} blocking queries parked")

        async def barrier() -> None:
            async with session.get(f"{base}/v1/status/leader") as resp:
                await resp.read()

        async def instance(i: int) -> Watcher:
            name = names[(i * 7) % len(names)]
            health[name].changed.clear()
            async with session.put(f"{base}/v1/agent/service/register", json=_proxy(name, 0, f"r{i + 1}")) as resp:
                resp.raise_for_status()
            return health[name]

        async def kv_write(i: int) -> Watcher:
            watcher = kv[i % len(kv)]
            watcher.changed.clear()
            async with session.put(f"{base}/v1/kv/bench/doc-{i % len(kv)}", data=f"v{i}".encode()) as resp:
                resp.raise_for_status()
            return watcher

        async def check_flip(i: int) -> Watcher:
            watcher = health[names[0]]
            watcher.changed.clear()
            status = "warn" if i % 2 == 0 else "pass"
            async with session.put(f"{base}/v1/agent/check/{status}/bench-ttl") as resp:
                resp.raise_for_status()
            return watcher

        lines.append(await _measure("instance", samples, server, instance, barrier))
        lines.append(await _measure("kv", samples, server, kv_write, barrier))
        lines.append(await _measure("check", samples, server, check_flip, barrier))
        return lines
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    for line in asyncio.run(run(args.services, args.instances, args.samples)):
        print(line)


if __name__ == "__main__":
    main()
