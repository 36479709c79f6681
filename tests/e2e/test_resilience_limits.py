"""Circuit breaking and rate limiting end to end: limits fail fast with 503 (web's agent, calling
side) or 429 (api's agent, receiving side), naming the limit in `x-mesh-reason`."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PLANES, chosen_plane
from tests.e2e.resilience_support import Fleet, Reply, fleet

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=PLANES)
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    plane = chosen_plane(request)
    tmp = Path(tmp_path_factory.mktemp("resilience-limits"))
    with fleet(tmp, "resilience-limits", [("api-a", "v1", "dc1")], plane=plane) as found:
        yield found


@pytest.fixture
def slow(api: Fleet) -> Iterator[Fleet]:
    api.api["api-a"].faults(delay="1s")
    yield api
    api.api["api-a"].faults()
    api.delete("service-defaults", service="web")


def limits(api: Fleet, **values: int) -> None:
    config = {"Defaults": {"Limits": values}}
    api.put("service-defaults", {"Protocol": "http", "UpstreamConfig": config}, service="web")


def concurrently(api: Fleet, n: int) -> list[Reply]:
    """`n` requests at once, each on its own connection (opened before any is sent)."""
    connections = [api.connect() for _ in range(n)]
    for conn in connections:
        conn.connect()
    start = threading.Barrier(n)
    replies: list[Any] = [None] * n

    def one(i: int) -> None:
        start.wait()
        replies[i] = api.get(connections[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in connections:
        conn.close()
    return replies


def test_max_concurrent_requests_2_refuses_the_excess_at_once_and_serves_the_rest(slow: Fleet) -> None:
    limits(slow, MaxConcurrentRequests=2)
    replies = concurrently(slow, 10)
    refused = [r for r in replies if r.status == 503]
    served = [r for r in replies if r.status == 200]
    print(
        f"\n[limits] 10 concurrent, MaxConcurrentRequests 2, upstream 1s: {len(served)} served in"
        f" {min(r.seconds for r in served):.2f}-{max(r.seconds for r in served):.2f}s, {len(refused)} refused in"
        f" at most {max(r.seconds for r in refused) * 1000:.0f} ms"
    )
    assert (len(served), len(refused)) == (2, 8)
    assert {r.headers["x-mesh-reason"] for r in refused} == {"max-concurrent-requests"}
    assert max(r.seconds for r in refused) < 0.5 <= 1.0 <= min(r.seconds for r in served)
    if slow.mesh.plane == "builtin":
        # Not derived from Envoy's stats: Envoy counts its overflows per cluster, pending and requests
        # together in HTTP/1.1 pools (docs/data-planes.md).
        assert slow.metric("mesh_upstream_overflows_total", limit="max_concurrent_requests") == 8


def test_max_connections_queues_up_to_max_pending_requests_and_refuses_the_rest(slow: Fleet) -> None:
    limits(slow, MaxConnections=1, MaxPendingRequests=1)
    replies = concurrently(slow, 4)
    statuses = Counter(r.status for r in replies)
    served = sorted(r.seconds for r in replies if r.status == 200)
    print(f"\n[limits] 4 concurrent, MaxConnections 1 + MaxPendingRequests 1: {dict(statuses)}, served at {served}")
    assert {r.headers["x-mesh-reason"] for r in replies if r.status == 503} <= {"max-pending-requests"}
    if slow.mesh.plane == "builtin":
        assert statuses == {200: 2, 503: 2}
        assert served[1] >= 2.0  # the pending one waited for the first's connection
    else:
        # Envoy's pools are per worker thread, and a pool with no connection always opens one, past
        # MaxConnections: with W workers up to W connections serve at once (docs/data-planes.md). The
        # pending requests are bounded cluster-wide: never more than 1 + 1 wait, the rest are refused.
        assert statuses[200] + statuses[503] == 4
        assert statuses[200] >= 2
        workers = sum(1 for t in served if t < 2.0)
        assert len(served) <= workers + 2, served


def test_inbound_rate_limit_answers_429_beyond_the_burst(api: Fleet) -> None:
    limit = {"InstanceLevel": {"RequestsPerSecond": 5, "RequestsMaxBurst": 5}}
    api.put("service-defaults", {"Protocol": "http", "RateLimits": limit})
    try:
        replies = api.replies(20)
    finally:
        api.put("service-defaults", {"Protocol": "http"})
    statuses = Counter(r.status for r in replies)
    print(f"\n[rate limit] 20 requests at once, 5/s burst 5: {dict(statuses)}")
    assert 5 <= statuses[200] <= 6
    assert statuses[429] == 20 - statuses[200]
    assert {r.headers["x-mesh-reason"] for r in replies if r.status == 429} == {"rate-limited"}
