"""The resilience layers' metrics, and the ejections the status API reports.

One `ResilienceMetrics` per agent registry (`ResilienceMetrics.of(metrics)`), shared by the HTTP
and TCP paths. Outbound series are labelled with the calling local service (`service`) and the
`upstream`. The gauge of ejected endpoints is computed when scraped, from the outlier detectors
the listeners registered, so it falls back to 0 when ejections run out even with no traffic.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mesh.resilience.outlier import OutlierDetector
from mesh.telemetry.children import Children
from mesh.telemetry.metrics import Metrics

_by_registry: weakref.WeakKeyDictionary[Metrics, ResilienceMetrics] = weakref.WeakKeyDictionary()


class ResilienceMetrics:
    @classmethod
    def of(cls, metrics: Metrics) -> ResilienceMetrics:
        """The agent's instance for this registry (created, and its series registered, once)."""
        found = _by_registry.get(metrics)
        if found is None:
            found = _by_registry[metrics] = cls(metrics)
        return found

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        out = ["service", "upstream"]
        self.retries = Children(
            Counter(
                "mesh_retries",
                "Requests sent again, by the RetryOn condition that allowed it",
                [*out, "condition"],
                registry=r,
            )
        )
        self.budget_exhausted = Children(
            Counter(
                "mesh_retry_budget_exhausted", "Retries not made because the retry budget was spent", out, registry=r
            )
        )
        self.overflows = Children(
            Counter(
                "mesh_upstream_overflows",
                "Requests or connections refused by a circuit-breaking limit (Limits), by limit",
                [*out, "limit"],
                registry=r,
            )
        )
        self.ejections = Children(
            Counter(
                "mesh_outlier_ejections", "Endpoints ejected by outlier detection (PassiveHealthCheck)", out, registry=r
            )
        )
        self.request_timeouts = Children(
            Counter(
                "mesh_request_timeouts",
                "Requests answered 504 because their request timeout ran out, by direction and destination",
                ["direction", "service", "upstream"],
                registry=r,
            )
        )
        self.rate_limited = Children(
            Counter(
                "mesh_rate_limited_requests", "Inbound requests refused with 429 by RateLimits", ["service"], registry=r
            )
        )
        self.faults = Children(
            Counter(
                "mesh_faults_injected", "Requests delayed or aborted by fault injection", [*out, "fault"], registry=r
            )
        )
        self.mirrored = Children(
            Counter(
                "mesh_mirrored_requests",
                "Copies of requests for a mirror: sent (answered), failed,"
                " or dropped (too many in flight, body not kept)",
                [*out, "result"],
                registry=r,
            )
        )
        self._detectors: dict[tuple[str, str], OutlierDetector] = {}
        # Kept: the Envoy plane serves this family merged with Envoy's ejections (agent.envoy_stats).
        self.ejected_gauge = _EjectedGauge(self)
        r.register(self.ejected_gauge)

    def track(self, service: str, upstream: str, detector: OutlierDetector) -> None:
        """Report `detector`'s ejections (a listener's; a newer listener for the pair replaces it)."""
        self._detectors[(service, upstream)] = detector

    def ejected_until(self, endpoint_key: str) -> float | None:
        """Wall-clock time (Unix seconds) when the endpoint returns, if any caller has it ejected;
        the latest when several have (for the status API)."""
        now = time.monotonic()
        latest = max(
            # A copy: the status API asks from a worker thread while listeners may track new detectors.
            (u for d in tuple(self._detectors.values()) if (u := d.ejected_until(endpoint_key, now)) is not None),
            default=None,
        )
        return None if latest is None else time.time() + (latest - now)

    def ejected_counts(self) -> Iterator[tuple[tuple[str, str], int]]:
        now = time.monotonic()
        for labels, detector in self._detectors.items():
            yield labels, len(detector.ejected(now))


class _EjectedGauge(Collector):
    def __init__(self, owner: ResilienceMetrics) -> None:
        self._owner = weakref.ref(owner)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mesh_outlier_ejected_endpoints",
            "Endpoints ejected by outlier detection now",
            labels=["service", "upstream"],
        )
        owner = self._owner()
        if owner is not None:
            for labels, count in owner.ejected_counts():
                family.add_metric(list(labels), count)
        yield family
