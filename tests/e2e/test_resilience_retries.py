"""Retries, the retry budget and the request timeout, end to end: web calls api (two instances,
each an echo app told to fail or stall), with the route settings an operator writes in KV."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PLANES, chosen_plane
from tests.e2e.resilience_support import Fleet, fleet
from tests.support.processes import wait_until

# How late a deadline may fire on a loaded two-core runner; well short of what a missed
# deadline would take (the upstream's 2 s, six 200 ms attempts).
SCHEDULING_SLACK = 0.45
# Envoy arms its timers from its event loop's cached clock, in whole milliseconds: a deadline can
# fire a fraction of a millisecond before it is due as the client measures it (seen: 499.9 ms).
ENVOY_TIMER_EARLINESS = 0.005

pytestmark = pytest.mark.e2e

RETRY_5XX = {"Routes": [{"Destination": {"NumRetries": 3, "RetryOn": ["5xx"]}}]}


@pytest.fixture(scope="module", params=PLANES)
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    plane = chosen_plane(request)
    tmp = Path(tmp_path_factory.mktemp("resilience-retries"))
    with fleet(tmp, "resilience-retries", [("api-a", "v1", "dc1"), ("api-b", "v1", "dc1")], plane=plane) as found:
        yield found


@pytest.fixture
def healthy(api: Fleet) -> Iterator[Fleet]:
    yield api
    for instance in api.api.values():
        instance.faults()
    api.delete("service-router")


def test_retries_on_5xx_turn_a_20_percent_failure_rate_into_over_99_5_percent_success(healthy: Fleet) -> None:
    for instance in healthy.api.values():
        instance.faults(fail_percent=20, status=503)
    healthy.put("service-router", RETRY_5XX)
    # Independent failures leave 0.2 ** 4 = 0.16% failing; 2000 requests keep the check from being a coin toss.
    statuses = healthy.statuses(2000)
    print(f"\n[retries] 2000 requests, upstream failing 20%: {dict(statuses)}")
    assert statuses[200] >= 0.995 * 2000, statuses
    # Envoy counts retries per cluster, not per condition: its retries are `condition="_unknown"`.
    condition = "5xx" if healthy.mesh.plane == "builtin" else "_unknown"
    wait_until(lambda: healthy.metric("mesh_retries_total", condition=condition) > 0, 10, what="retries counted")


def test_a_20_percent_budget_keeps_a_failing_upstream_at_1_2_times_the_requests(healthy: Fleet) -> None:
    for instance in healthy.api.values():
        instance.faults(fail_percent=100, status=503)
    budget = {"Percent": 20, "MinRetriesPerSecond": 0, "TTL": "10s"}
    healthy.put(
        "service-router",
        {"Routes": [{"Destination": {**RETRY_5XX["Routes"][0]["Destination"], "RetryBudget": budget}}]},
    )
    before = sum(i.requests() for i in healthy.api.values())
    statuses = healthy.statuses(500)
    received = sum(i.requests() for i in healthy.api.values()) - before
    print(
        f"\n[budget] 500 client requests, upstream failing 100%: upstream received {received} ({received / 500:.3f}x)"
    )
    assert statuses == {503: 500}
    assert received <= 1.2 * 500 + 1  # without the budget: 4 x 500
    # Envoy's numbers reach /metrics with the agent's next poll of its stats.
    wait_until(lambda: healthy.metric("mesh_retry_budget_exhausted_total") > 0, 10, what="exhausted budget counted")


def test_a_slow_upstream_gets_504_at_the_request_timeout_and_the_connection_stays_usable(healthy: Fleet) -> None:
    for instance in healthy.api.values():
        instance.faults(delay="2s")
    healthy.put("service-router", {"Routes": [{"Destination": {"RequestTimeout": "500ms"}}]})
    conn = healthy.connect()
    try:
        slow = healthy.get(conn)
        print(f"\n[timeout] RequestTimeout 500ms, upstream 2s: {slow.status} after {slow.seconds * 1000:.0f} ms")
        assert slow.status == 504
        assert slow.headers["x-mesh-reason"] == "request-timeout"
        early = ENVOY_TIMER_EARLINESS if healthy.mesh.plane == "envoy" else 0.0
        assert 0.5 - early <= slow.seconds < 0.5 + SCHEDULING_SLACK  # not the upstream's 2 s
        for instance in healthy.api.values():
            instance.faults()
        fast = healthy.get(conn)  # the same client connection
        assert fast.status == 200, fast.body
    finally:
        conn.close()


def test_the_request_timeout_covers_every_retry(healthy: Fleet) -> None:
    for instance in healthy.api.values():
        instance.faults(fail_percent=100, status=503, delay="200ms")
    destination = {"NumRetries": 5, "RetryOn": ["5xx"], "RequestTimeout": "500ms"}
    healthy.put("service-router", {"Routes": [{"Destination": destination}]})
    started = time.perf_counter()
    (reply,) = healthy.replies(1)
    elapsed = time.perf_counter() - started
    print(f"\n[timeout+retries] 6 attempts of 200 ms within 500ms: {reply.status} after {elapsed * 1000:.0f} ms")
    assert reply.status == 504  # six attempts would take 1.2 s; the deadline ends them
    assert elapsed < 0.5 + SCHEDULING_SLACK
