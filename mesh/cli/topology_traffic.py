"""Per-edge traffic for `meshctl topology` (pure): from Prometheus answers or agents' /metrics.

An edge's figures are the caller's view: the `direction="outbound"` series of
`mesh_requests_total` and `mesh_request_duration_seconds` by (source, destination), the same
series the per-edge recording rules read (deploy/prometheus/mesh-rules.yml). An error is a 5xx
or no response (`code="0"`), as in the rules.

From Prometheus, three instant queries over a window. From /metrics, the counters of every
agent summed: one scrape gives totals since the agents started; two scrapes a window apart
give the rates over that window (counters that went down, an agent restarted, count from 0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mesh.cli.topology_graph import EdgeKey, Traffic

_ERROR_CODE = re.compile(r"5\d\d|0")


def prometheus_queries(window: str) -> dict[str, str]:
    """The PromQL per figure; `window` is a Prometheus duration (`5m`)."""
    outbound = 'direction="outbound"'
    return {
        "rps": f"sum by (source, destination) (rate(mesh_requests_total{{{outbound}}}[{window}]))",
        "errors": f'sum by (source, destination) (rate(mesh_requests_total{{{outbound},code=~"5..|0"}}[{window}]))',
        "p99": "histogram_quantile(0.99, sum by (source, destination, le) "
        f"(rate(mesh_request_duration_seconds_bucket{{{outbound}}}[{window}])))",
    }


class UnusableAnswer(ValueError):
    """An answer that is not what Prometheus or an agent sends; the message says what is wrong."""


def vector_by_edge(answer: Any) -> dict[EdgeKey, float]:
    """A Prometheus `/api/v1/query` answer (the decoded JSON) as {(source, destination): value}."""
    if not isinstance(answer, Mapping) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, Mapping) else None
        raise UnusableAnswer(f"the query failed: {error}" if error else "not a Prometheus query answer")
    data = answer.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise UnusableAnswer("the answer is not an instant vector")
    out: dict[EdgeKey, float] = {}
    for sample in data["result"]:
        try:
            labels, (_at, value) = sample["metric"], sample["value"]
            key = (str(labels["source"]), str(labels["destination"]))
            out[key] = float(value)
        except (KeyError, TypeError, ValueError):
            raise UnusableAnswer(f"a sample without source, destination and value: {str(sample)[:200]}") from None
    return out


def traffic_from_prometheus(
    rps: Mapping[EdgeKey, float], errors: Mapping[EdgeKey, float], p99: Mapping[EdgeKey, float], seconds: float
) -> dict[EdgeKey, Traffic]:
    """Join the three vectors; `seconds` is the window, to give the requests it held."""
    out: dict[EdgeKey, Traffic] = {}
    for key, rate in rps.items():
        latency = p99.get(key)
        out[key] = Traffic(
            requests=rate * seconds,
            errors=errors.get(key, 0.0) * seconds,
            rps=rate,
            p99=latency if latency is not None and math.isfinite(latency) else None,
        )
    return out


@dataclass
class EdgeCounts:
    """The outbound counters of one scrape of every agent, summed per edge."""

    requests: dict[EdgeKey, float] = field(default_factory=dict)
    errors: dict[EdgeKey, float] = field(default_factory=dict)
    buckets: dict[EdgeKey, dict[float, float]] = field(default_factory=dict)


def edge_counts(expositions: Iterable[str]) -> EdgeCounts:
    """Parse Prometheus text expositions (one per agent) into per-edge sums."""
    counts = EdgeCounts()
    for text in expositions:
        try:
            families = list(text_string_to_metric_families(text))
        except (ValueError, TypeError, IndexError) as exc:
            raise UnusableAnswer(f"not a Prometheus text exposition ({exc})") from None
        for family in families:
            if family.name not in ("mesh_requests", "mesh_request_duration_seconds"):
                continue
            for sample in family.samples:
                labels = sample.labels
                if labels.get("direction") != "outbound" or "source" not in labels or "destination" not in labels:
                    continue
                key = (labels["source"], labels["destination"])
                if sample.name == "mesh_requests_total":
                    counts.requests[key] = counts.requests.get(key, 0.0) + sample.value
                    if _ERROR_CODE.fullmatch(labels.get("code", "")):
                        counts.errors[key] = counts.errors.get(key, 0.0) + sample.value
                elif sample.name == "mesh_request_duration_seconds_bucket" and "le" in labels:
                    le = float(labels["le"])
                    edge = counts.buckets.setdefault(key, {})
                    edge[le] = edge.get(le, 0.0) + sample.value
    return counts


def traffic_from_counts(after: EdgeCounts, before: EdgeCounts | None, seconds: float | None) -> dict[EdgeKey, Traffic]:
    """Per-edge traffic between two scrapes (`before` None: totals since the agents started)."""
    out: dict[EdgeKey, Traffic] = {}
    for key, total in after.requests.items():
        requests = _delta(total, before.requests.get(key) if before else None)
        errors = _delta(after.errors.get(key, 0.0), before.errors.get(key) if before else None)
        earlier = before.buckets.get(key, {}) if before else {}
        buckets = [(le, _delta(n, earlier.get(le))) for le, n in after.buckets.get(key, {}).items()]
        out[key] = Traffic(
            requests=requests,
            errors=min(errors, requests),
            rps=requests / seconds if seconds else None,
            p99=bucket_quantile(0.99, buckets),
        )
    return out


def _delta(now: float, then: float | None) -> float:
    if then is None or now < then:  # a series new since, or an agent restarted: its counter began at 0
        return now
    return now - then


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram as Prometheus's histogram_quantile computes it:
    linear within the bucket it falls in, the lower bound of the first bucket being 0, and the
    highest finite bound when it falls in the +Inf bucket. None with no observation."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][0] != math.inf:
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank:
            if upper == math.inf:
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower
