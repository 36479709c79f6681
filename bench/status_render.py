"""What `GET /v1/status` costs the event loop at scale (50 services x 3 upstreams, 1,500 endpoints).

    .venv/bin/python -m bench.status_render [--samples 30]

Builds the agent's own status document (agent/status.py) for a config with 150 destinations of
10 endpoints each and one outlier detector per (service, upstream), as the listeners register
them, then times, per query: the part built on the event loop, the part built and encoded in the
worker thread (mesh/admin/status_query.py), the body size, and the event loop's lag (a 1 ms
ticker) while whole documents are rendered in the thread. Not part of `make test` or `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from agent.status import Readiness, status_document
from mesh.admin.status_query import StatusQuery, encode
from mesh.config import parse_config
from mesh.config.model import AgentConfig
from mesh.resilience.metrics import ResilienceMetrics
from mesh.resilience.outlier import OutlierDetector
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.metrics import Metrics

SERVICES, UPSTREAMS, INSTANCES = 50, 3, 10


def estate() -> tuple[AgentConfig, MeshSnapshot, ResilienceMetrics]:
    lines = ["node: vm-1", "advertise_address: 10.0.0.5", "vault: {auth: {method: token, token_file: /t}}", "services:"]
    for s in range(SERVICES):
        ups = ", ".join(
            f"{{destination_name: dst{s * UPSTREAMS + u}, local_bind_port: {15000 + s * UPSTREAMS + u}}}"
            for u in range(UPSTREAMS)
        )
        lines.append(f"  - {{name: svc{s}, port: {8000 + s}, upstreams: [{ups}]}}")
    config = parse_config("\n".join(lines))
    destinations = SERVICES * UPSTREAMS
    endpoints = {
        UpstreamKey(f"dst{d}", "dc1"): tuple(
            Endpoint(f"dst{d}", "dc1", f"n{i}", f"10.1.{d}.{i}", 20000, f"dst{d}-{i}") for i in range(INSTANCES)
        )
        for d in range(destinations)
    }
    snapshot = MeshSnapshot(version=1, endpoints=endpoints, indexes={f"endpoints/dst{d}/dc1": d for d in range(150)})
    resilience = ResilienceMetrics.of(Metrics())
    for s in range(SERVICES):
        for u in range(UPSTREAMS):
            resilience.track(f"svc{s}", f"dst{s * UPSTREAMS + u}", OutlierDetector())
    return config, snapshot, resilience


async def measure(samples: int) -> None:
    config, snapshot, resilience = estate()

    def document() -> dict[str, object]:
        return status_document(
            config=config,
            datacenter="dc1",
            trust_domain="bench.consul",
            snapshot=snapshot,
            tls=None,
            readiness=Readiness(()),
            extra_errors={},
            ejected_until=resilience.ejected_until,
        )

    queries = {
        "whole document": StatusQuery(),
        "?limit=0": StatusQuery(limit=0),
        "?upstream=dst7": StatusQuery(upstreams=frozenset({"dst7"})),
    }
    for label, query in queries.items():
        on_loop, in_thread, size = [], [], 0
        for _ in range(samples):
            started = time.perf_counter()
            doc = document()
            built = time.perf_counter()
            size = len(await asyncio.to_thread(encode, doc, query))
            on_loop.append((built - started) * 1000)
            in_thread.append((time.perf_counter() - built) * 1000)
        print(
            f"{label:<16} on the loop p50 {statistics.median(on_loop):.2f} ms, "
            f"in the thread p50 {statistics.median(in_thread):.1f} ms, {size / 1024:.0f} KiB"
        )

    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - started - 0.001) * 1000)

    task = asyncio.create_task(ticker())
    for _ in range(samples):
        await asyncio.to_thread(encode, document(), StatusQuery())
    done = True
    await task
    lags.sort()
    print(
        f"event-loop lag while whole documents render: p50 {lags[len(lags) // 2]:.2f} ms, "
        f"p99 {lags[int(len(lags) * 0.99)]:.1f} ms, max {lags[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=30)
    asyncio.run(measure(parser.parse_args().samples))


if __name__ == "__main__":
    main()
