"""Per-edge traffic for `meshctl topology`: Prometheus answers, agents' expositions, quantiles."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mesh.cli.topology_graph import Traffic
from mesh.cli.topology_traffic import (
    UnusableAnswer,
    bucket_quantile,
    edge_counts,
    prometheus_queries,
    traffic_from_counts,
    traffic_from_prometheus,
    vector_by_edge,
)


def answer(*samples: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"source": s, "destination": d}, "value": [1.0, v]} for s, d, v in samples],
        },
    }


class Agent:
    """An agent's request series, in a registry of its own, declared as mesh.telemetry.metrics does."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mesh_requests", "", ["direction", "source", "destination", "subset", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "mesh_request_duration_seconds",
            "",
            ["direction", "source", "destination", "subset"],
            buckets=(0.01, 0.1, 1.0),
            registry=self.registry,
        )

    def request(self, source: str, destination: str, code: int, seconds: float, direction: str = "outbound") -> None:
        self.requests.labels(direction, source, destination, "", str(code)).inc()
        self.latency.labels(direction, source, destination, "").observe(seconds)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def test_the_queries_read_the_callers_outbound_series_over_the_window() -> None:
    queries = prometheus_queries("5m")
    assert queries["rps"] == 'sum by (source, destination) (rate(mesh_requests_total{direction="outbound"}[5m]))'
    assert 'code=~"5..|0"' in queries["errors"]
    assert queries["p99"].startswith("histogram_quantile(0.99, sum by (source, destination, le) ")


def test_a_prometheus_vector_is_read_per_edge() -> None:
    assert vector_by_edge(answer(("web", "api", "2.5"), ("web", "db", "NaN"))) == {
        ("web", "api"): 2.5,
        ("web", "db"): pytest.approx(math.nan, nan_ok=True),
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"status": "error", "error": "parse error at char 3"}, "the query failed: parse error at char 3"),
        ([], "not a Prometheus query answer"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "not an instant vector"),
        ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}, "a sample without"),
    ],
)
def test_an_answer_that_is_not_a_vector_of_edges_is_refused_with_what_is_wrong(bad: Any, message: str) -> None:
    with pytest.raises(UnusableAnswer, match=message):
        vector_by_edge(bad)


def test_prometheus_figures_join_per_edge_and_a_nan_quantile_is_no_latency() -> None:
    traffic = traffic_from_prometheus(
        {("web", "api"): 2.0, ("web", "db"): 1.0},
        {("web", "api"): 0.5},
        {("web", "api"): 0.03, ("web", "db"): math.nan},
        seconds=300,
    )
    assert traffic[("web", "api")] == Traffic(requests=600, errors=150, rps=2.0, p99=0.03)
    assert traffic[("web", "db")] == Traffic(requests=300, errors=0, rps=1.0, p99=None)


def test_one_scrape_gives_totals_since_start_summed_over_agents_outbound_only() -> None:
    a, b = Agent(), Agent()
    for _ in range(8):
        a.request("web", "api", 200, 0.005)
    a.request("web", "api", 503, 0.05)
    b.request("cron", "api", 0, 0.5)
    b.request("web", "api", 200, 0.005)
    b.request("web", "api", 200, 0.005, direction="inbound")  # the server's view: not an edge figure
    traffic = traffic_from_counts(edge_counts([a.text(), b.text()]), None, None)
    web = traffic[("web", "api")]
    assert (web.requests, web.errors, web.rps) == (10, 1, None)
    assert traffic[("cron", "api")].errors == 1  # code 0: no response is an error
    assert web.p99 is not None
    assert 0.01 < web.p99 <= 0.1


def test_two_scrapes_give_rates_over_the_window_and_a_restarted_agent_counts_from_zero() -> None:
    before = Agent()
    for _ in range(5):
        before.request("web", "api", 200, 0.005)
    first = edge_counts([before.text()])
    for _ in range(10):
        before.request("web", "api", 200, 0.5)
    restarted = Agent()
    restarted.request("web", "db", 200, 0.005)
    traffic = traffic_from_counts(edge_counts([before.text(), restarted.text()]), first, 5.0)
    assert traffic[("web", "api")].rps == 2.0
    assert traffic[("web", "api")].p99 == pytest.approx(0.1 + 0.9 * (9.9 / 10))  # only the window's requests
    assert traffic[("web", "db")].requests == 1


def test_an_exposition_that_is_not_one_is_refused() -> None:
    with pytest.raises(UnusableAnswer, match="not a Prometheus text exposition"):
        edge_counts(['mesh_requests_total{direction="outbound" 1\n'])


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ([(0.01, 100.0), (math.inf, 100.0)], 0.0099),  # within the first bucket, from 0
        ([(0.01, 0.0), (0.1, 100.0), (math.inf, 100.0)], 0.01 + 0.09 * 0.99),
        ([(0.01, 50.0), (math.inf, 100.0)], 0.01),  # in +Inf: the highest finite bound
        ([(0.01, 0.0), (math.inf, 0.0)], None),  # no observation
        ([(0.01, 1.0)], None),  # no +Inf bucket: not a histogram
        ([], None),
    ],
)
def test_the_quantile_is_prometheus_histogram_quantile(
    buckets: list[tuple[float, float]], expected: float | None
) -> None:
    found = bucket_quantile(0.99, buckets)
    if expected is None:
        assert found is None
    else:
        assert found == pytest.approx(expected)
