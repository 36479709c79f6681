"""The agent's golden metrics from Envoy's stats: polled over HTTP, served on the agent's registry
(agent.envoy_stats), against a real HTTP server on loopback that answers as Envoy's admin does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from agent.envoy_stats import EnvoyStatsPoller
from mesh.config.model import HostPort
from mesh.envoy.stats import LATENCY_BUCKETS, STATS_FILTER
from mesh.resilience.metrics import ResilienceMetrics
from mesh.snapshot.compiled import CompiledSnapshot, compile_snapshot
from mesh.telemetry.metrics import Metrics
from tests.unit.snapshot.test_compiled import _config, _snapshot

V1 = "web/v1.api.default.dc1.internal.td.consul"
OUTBOUND_200 = {"direction": "outbound", "source": "web", "destination": "api", "subset": "v1", "code": "200"}


class FakeAdmin:
    """What the admin answers next: a stats document, or a status code."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] = {"stats": []}
        self.status = 200
        self.queries: list[dict[str, str]] = []

    async def stats(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        if self.status != 200:
            return web.Response(status=self.status, text="no")
        return web.json_response(self.doc)

    def serve(
        self, ok: int, time_bins: list[tuple[float, float, int]] | None = None, *, overflow: int = 0, ejected: int = 0
    ) -> None:
        stats: list[dict[str, Any]] = [
            {"name": f"cluster.{V1}.upstream_rq_200", "value": ok},
            {"name": f"cluster.{V1}.upstream_rq_retry_overflow", "value": overflow},
            {"name": f"cluster.{V1}.outlier_detection.ejections_active", "value": ejected},
        ]
        if time_bins is not None:
            totals = [{"lower_bound": lo, "width": w, "count": n} for lo, w, n in time_bins]
            details = [{"name": f"cluster.{V1}.upstream_rq_time", "totals": totals}]
            stats.append({"histograms": {"supported_percentiles": [], "details": details}})
        self.doc = {"stats": stats}


@pytest.fixture
async def admin() -> AsyncIterator[tuple[FakeAdmin, HostPort]]:
    fake = FakeAdmin()
    app = web.Application()
    app.router.add_get("/stats", fake.stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, HostPort("127.0.0.1", port)
    finally:
        await runner.cleanup()


def _compiled() -> CompiledSnapshot:
    config = _config()
    web_service = dataclasses.replace(config.services[0], protocol="http")
    return compile_snapshot(dataclasses.replace(config, services=(web_service,)), "dc1", "td.consul", _snapshot(), None)


def _samples(metrics: Metrics, name: str) -> list[tuple[str, dict[str, str], float]]:
    text = metrics.render().decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        if family.name == name
        for s in family.samples
    ]


def _requests(metrics: Metrics, labels: dict[str, str]) -> float | None:
    found = [v for n, lab, v in _samples(metrics, "mesh_requests") if n == "mesh_requests_total" and lab == labels]
    return found[0] if found else None


async def test_a_poll_serves_envoys_counts_and_latency_as_the_golden_series(
    admin: tuple[FakeAdmin, HostPort],
) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: 1.0)
    try:
        fake.serve(3, [(2, 0.1, 2), (40, 1, 1)])
        assert await poller.poll()
    finally:
        await poller.stop()
    # Only the stats used, histograms as their bins (which give the sum too).
    assert fake.queries == [{"format": "json", "histogram_buckets": "detailed", "usedonly": "", "filter": STATS_FILTER}]
    assert _requests(metrics, OUTBOUND_200) == 3
    samples = _samples(metrics, "mesh_request_duration_seconds")
    series = {"direction": "outbound", "source": "web", "destination": "api", "subset": "v1"}
    buckets = {lab["le"]: v for n, lab, v in samples if n.endswith("_bucket") and lab.items() >= series.items()}
    assert list(buckets) == [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
    assert buckets["0.0025"] == 2  # the two 2 ms requests
    assert buckets["0.05"] == 3
    assert buckets["+Inf"] == 3
    (total,) = [v for n, lab, v in samples if n.endswith("_sum") and lab == series]
    assert total == pytest.approx((2 * 2.05 + 40.5) / 1000)
    # One family of each name: the builtin plane's own is served through the same collector.
    text = metrics.render().decode()
    assert text.count("# TYPE mesh_requests_total counter") == 1
    assert text.count("# TYPE mesh_request_duration_seconds histogram") == 1


async def test_the_builtin_planes_own_samples_are_still_served(admin: tuple[FakeAdmin, HostPort]) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: 1.0)
    metrics.requests.labels(*OUTBOUND_200.values()).inc()
    metrics.requests.labels("inbound", "a", "b", "", "200").inc()
    try:
        fake.serve(3)
        assert await poller.poll()
    finally:
        await poller.stop()
    assert _requests(metrics, OUTBOUND_200) == 4
    assert _requests(metrics, {"direction": "inbound", "source": "a", "destination": "b", "subset": "", "code": "200"})


async def test_counts_do_not_go_backwards_when_envoy_restarts(admin: tuple[FakeAdmin, HostPort]) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    generation = [1.0]
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: generation[0])
    try:
        fake.serve(5)
        assert await poller.poll()
        generation[0] = 2.0  # the supervisor started a new Envoy, whose counters start at zero
        fake.serve(2)
        assert await poller.poll()
    finally:
        await poller.stop()
    assert _requests(metrics, OUTBOUND_200) == 7


async def test_an_answer_from_a_process_that_was_replaced_meanwhile_is_not_used(
    admin: tuple[FakeAdmin, HostPort],
) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    starts = iter([1.0, 2.0])
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: next(starts))
    try:
        fake.serve(5)
        assert not await poller.poll()
    finally:
        await poller.stop()
    assert _requests(metrics, OUTBOUND_200) is None


async def test_an_envoy_that_does_not_answer_leaves_the_last_counts(admin: tuple[FakeAdmin, HostPort]) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: 1.0)
    try:
        fake.serve(5)
        assert await poller.poll()
        fake.status = 503
        assert not await poller.poll()
        assert poller.last_error is not None
        assert "503" in poller.last_error
        fake.status = 200
        fake.doc = {"stats": "garbage"}
        assert not await poller.poll()
        assert "StatsFormatError" in (poller.last_error or "")
    finally:
        await poller.stop()
    assert _requests(metrics, OUTBOUND_200) == 5


async def test_the_task_polls_until_stopped(admin: tuple[FakeAdmin, HostPort]) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: 1.0, interval=0.01)
    fake.serve(1)
    poller.start()
    try:
        while poller.polls < 3:
            await asyncio.sleep(0.01)
    finally:
        await poller.stop()
    assert _requests(metrics, OUTBOUND_200) == 1


async def test_the_resilience_series_of_the_alerts_come_from_envoy_too(admin: tuple[FakeAdmin, HostPort]) -> None:
    fake, address = admin
    metrics = Metrics()
    compiled = _compiled()
    generation = [1.0]
    poller = EnvoyStatsPoller(metrics, address, lambda: compiled, lambda: generation[0])
    ResilienceMetrics.of(metrics).retries.labels("web", "api", "5xx").inc()  # the builtin's own, still served
    try:
        fake.serve(1, overflow=4, ejected=1)
        assert await poller.poll()
        generation[0] = 2.0
        fake.serve(1, overflow=1, ejected=0)  # restarted: the counter carries on, the gauge is as it is now
        assert await poller.poll()
    finally:
        await poller.stop()
    web_api = {"service": "web", "upstream": "api"}
    exhausted = _samples(metrics, "mesh_retry_budget_exhausted")
    assert [v for n, lab, v in exhausted if n == "mesh_retry_budget_exhausted_total" and lab == web_api] == [5]
    assert [v for _n, lab, v in _samples(metrics, "mesh_outlier_ejected_endpoints") if lab == web_api] == [0]
    retries = [(lab["condition"], v) for n, lab, v in _samples(metrics, "mesh_retries") if n == "mesh_retries_total"]
    assert retries == [("5xx", 1)]
    text = metrics.render().decode()
    for family in ("mesh_retry_budget_exhausted", "mesh_retries", "mesh_outlier_ejections", "mesh_request_timeouts"):
        assert text.count(f"# TYPE {family}_total counter") == 1, family
    assert text.count("# TYPE mesh_outlier_ejected_endpoints gauge") == 1
