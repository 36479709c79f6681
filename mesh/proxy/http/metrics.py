"""Golden signals per request, and the L7 data plane's own counters, in the agent's registry.

Requests and latency use the series declared in mesh.telemetry.metrics (direction, source,
destination, subset, code), with the source bounded per destination by its SourceLabels.
Inbound requests have subset "" (the subset is the caller's choice, which this side does not
know). `code` is "0" when no response was sent.
Build one HttpMetrics per agent: its extra counters are registered once. Its `log_mode`
mode is the agent's setting of that name; the agent sets it again on every reload.

Everything `report` does is per request, so nothing in it asks prometheus_client for a child
by labels (a validation and a lock each time): the request series are cached per key, the
extra counters are `Children` (mesh.telemetry.children), and the access log line is rendered
by an EventLog (orjson, written once per loop turn; see mesh.telemetry.logs and .lines).
The request's span, when its trace is sampled and the agent exports spans, is queued from
here too (mesh.proxy.http.spans.HttpTracing: one append), and `tracing.policy` is how the
listeners start and propagate traces.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from mesh.config.model import AccessLogMode
from mesh.proxy.http.access_log import RequestRecord, logged_under
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.spans import HttpTracing
from mesh.telemetry.children import Children
from mesh.telemetry.logs import EventLog
from mesh.telemetry.metrics import Metrics

access_log = EventLog("mesh.access")


class HttpMetrics:
    def __init__(
        self, metrics: Metrics, *, access_log: AccessLogMode = "all", tracing: HttpTracing | None = None
    ) -> None:
        self.metrics = metrics
        self.log_mode: AccessLogMode = access_log
        self.tracing = tracing if tracing is not None else HttpTracing()
        r = metrics.registry
        # The source label is the bounded one (SourceLabels), as for the request series.
        self.denied = Children(
            Counter(
                "mesh_http_requests_denied",
                "HTTP requests refused by an intention, by destination and source service",
                ["destination", "source"],
                registry=r,
            )
        )
        self.protocol_errors = Children(
            Counter(
                "mesh_http_protocol_errors",
                "HTTP messages refused as malformed or over a limit, by listener direction and status sent",
                ["direction", "status"],
                registry=r,
            )
        )
        # Destinations are local services (inbound) and catalog services (outbound).
        self.upstream_connections = Children(
            Counter(
                "mesh_http_upstream_connections",
                "Upstream HTTP connections used per request, by direction and whether pooled (reused) or new",
                ["direction", "destination", "result"],
                registry=r,
            )
        )

        # The request counter's and latency histogram's children per label values: `.labels()`
        # validates and locks on every call. As many entries as the registry has series (never removed).
        self._series: dict[tuple[str, str, str, str, int], tuple[Counter, Histogram]] = {}

    def report(self, record: RequestRecord, now: float) -> None:
        """Count the request, write its access log line if the `access_log` mode wants it, queue its span."""
        duration = max(0.0, now - record.started)
        # Bounded before the cache too: the cache holds one entry per series.
        source = self.metrics.sources.label(record.destination, record.source)
        key = (record.direction, source, record.destination, record.subset, record.status)
        series = self._series.get(key)
        if series is None:
            m, labels = self.metrics, key[:4]
            series = self._series[key] = (
                m.requests.labels(*labels, str(record.status)),
                m.request_duration.labels(*labels),
            )
        requests, latency = series
        requests.inc()
        latency.observe(duration)
        if Flag.DENIED in record.flags:
            self.denied.labels(record.destination, source).inc()
        if Flag.BAD_REQUEST in record.flags or Flag.HEADER_TIMEOUT in record.flags:
            self.protocol_errors.labels(record.direction, str(record.status)).inc()
        if logged_under(self.log_mode, record):
            access_log.info("request", record.fields(duration))
        self.tracing.record(record, now)
