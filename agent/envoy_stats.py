"""The golden metrics of the Envoy plane: Envoy's stats polled, served as the builtin plane's series.

Served: `mesh_requests`, `mesh_request_duration_seconds`, and the resilience series the alert
rules and the dashboard read (`mesh_retry_budget_exhausted`, `mesh_retries`,
`mesh_outlier_ejections`, `mesh_request_timeouts`, `mesh_outlier_ejected_endpoints`);
mesh.envoy.stats says from which of Envoy's stats.

A background task asks Envoy's admin for its stats every POLL_INTERVAL (one small GET on
loopback, decoded in a worker thread), keeps them monotonic across Envoy restarts
(mesh.envoy.stats.Monotonic, the generation being the supervisor's start time of the process
that answered), and maps them onto `mesh_requests` and `mesh_request_duration_seconds` with the
clusters of the latest compiled snapshot. A scrape of /metrics reads what the last poll found:
it never waits on Envoy.

The builtin plane's own collectors of those names are taken off the registry and
served by this collector together with Envoy's, so /metrics has one family of each name (two
would be an exposition Prometheus refuses) and a sample the agent itself recorded still shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Final

import aiohttp
import structlog
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from mesh.config.model import HostPort
from mesh.envoy.stats import (
    LATENCY_BUCKETS,
    STATS_FILTER,
    EnvoyStats,
    Golden,
    Monotonic,
    SeriesKey,
    SeriesMap,
    StatsFormatError,
    flatten,
    golden,
    parse_stats,
    series_map,
)
from mesh.resilience.metrics import ResilienceMetrics
from mesh.snapshot.compiled import CompiledSnapshot
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("agent.envoy.stats")

POLL_INTERVAL: Final = 2.0
REQUEST_TIMEOUT: Final = 2.0
STATS_PATH: Final = "/stats?format=json&histogram_buckets=detailed&usedonly&filter=" + urllib.parse.quote(
    STATS_FILTER, safe=""
)
REQUEST_LABELS: Final = ("direction", "source", "destination", "subset", "code")


class GoldenCollector(Collector):
    """The builtin's samples and Envoy's, one family per name."""

    def __init__(
        self, requests: Counter, duration: Histogram, counters: dict[str, Counter], ejected: Collector
    ) -> None:
        self.requests = requests
        self.duration = duration
        self.counters = counters  # by family name: those of mesh.envoy.stats.CLUSTER_COUNTERS, APP_COUNTERS
        self.ejected = ejected
        self.golden = Golden({}, {})

    def builtins(self) -> tuple[Collector, ...]:
        return (self.requests, self.duration, *self.counters.values(), self.ejected)

    def collect(self) -> Iterator[Metric]:
        counts = dict(self.golden.requests)
        family = CounterMetricFamily("mesh_requests", self.requests._documentation, labels=REQUEST_LABELS)
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name == "mesh_requests_total":
                    labels = sample.labels
                    key = (
                        labels["direction"],
                        labels["source"],
                        labels["destination"],
                        labels["subset"],
                        labels["code"],
                    )
                    counts[key] = counts.get(key, 0.0) + sample.value
        for key, value in sorted(counts.items()):
            family.add_metric(list(key), value)
        yield family
        yield self._durations()
        for name, counter in self.counters.items():
            yield _merged(
                CounterMetricFamily(name, counter._documentation, labels=tuple(counter._labelnames)),
                counter,
                f"{name}_total",
                self.golden.counters.get(name, {}),
            )
        yield _merged(
            GaugeMetricFamily(
                "mesh_outlier_ejected_endpoints",
                "Endpoints ejected by outlier detection now",
                labels=("service", "upstream"),
            ),
            self.ejected,
            "mesh_outlier_ejected_endpoints",
            {key: value for key, value in self.golden.ejected.items()},
        )

    def _durations(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "mesh_request_duration_seconds", self.duration._documentation, labels=REQUEST_LABELS[:4]
        )
        builtin: dict[SeriesKey, dict[str, float]] = {}
        for metric in self.duration.collect():
            for sample in metric.samples:
                labels = sample.labels
                key = (labels["direction"], labels["source"], labels["destination"], labels["subset"])
                series = builtin.setdefault(key, {})
                if sample.name.endswith("_bucket"):
                    series[sample.labels["le"]] = sample.value
                elif sample.name.endswith("_sum"):
                    series["sum"] = sample.value
        bounds = [_le(b) for b in LATENCY_BUCKETS]
        keys = sorted(set(builtin) | set(self.golden.durations))
        for key in keys:
            mine = builtin.get(key, {})
            envoy = self.golden.durations.get(key)
            buckets = [(le, mine.get(le, 0.0) + (envoy.buckets[i] if envoy else 0.0)) for i, le in enumerate(bounds)]
            count = mine.get("+Inf", 0.0) + (envoy.count if envoy else 0.0)
            buckets.append(("+Inf", count))
            family.add_metric(list(key), buckets, mine.get("sum", 0.0) + (envoy.total if envoy else 0.0))
        return family


def _merged(
    family: CounterMetricFamily | GaugeMetricFamily,
    builtin: Collector,
    sample_name: str,
    envoy: dict[tuple[str, ...], float],
) -> CounterMetricFamily | GaugeMetricFamily:
    """`family` with Envoy's values and the builtin collector's samples of `sample_name` added up."""
    values = dict(envoy)
    names = family._labelnames
    for metric in builtin.collect():
        for sample in metric.samples:
            if sample.name == sample_name:
                key = tuple(sample.labels[n] for n in names)
                values[key] = values.get(key, 0.0) + sample.value
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _le(bound: float) -> str:
    """prometheus_client's spelling of a bucket bound (floatToGoString)."""
    return repr(float(bound))


class EnvoyStatsPoller:
    """The task that polls Envoy's stats for GoldenCollector; `start` once, `stop` at the end."""

    def __init__(
        self,
        metrics: Metrics,
        admin: HostPort,
        compiled: Callable[[], CompiledSnapshot | None],
        generation: Callable[[], object],
        interval: float = POLL_INTERVAL,
    ) -> None:
        host = f"[{admin.host}]" if ":" in admin.host else admin.host
        self.url = f"http://{host}:{admin.port}{STATS_PATH}"
        self.compiled = compiled
        self.generation = generation
        self.interval = interval
        self.monotonic = Monotonic()
        self.series = SeriesMap({}, {}, {})
        self._mapped: CompiledSnapshot | None = None
        resilience = ResilienceMetrics.of(metrics)
        counters = {
            "mesh_retry_budget_exhausted": resilience.budget_exhausted.metric,
            "mesh_retries": resilience.retries.metric,
            "mesh_outlier_ejections": resilience.ejections.metric,
            "mesh_request_timeouts": resilience.request_timeouts.metric,
        }
        self.collector = GoldenCollector(metrics.requests, metrics.request_duration, counters, resilience.ejected_gauge)
        registry = metrics.registry
        for builtin in self.collector.builtins():
            with contextlib.suppress(KeyError):  # already taken off by an earlier poller
                registry.unregister(builtin)
        registry.register(self.collector)
        self.polls = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="envoy stats")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a bug of ours: the last numbers stay served, the next poll tries again
                log.exception("reading envoy's stats failed")
            await asyncio.sleep(self.interval)

    async def poll(self) -> bool:
        """One poll: True when Envoy answered and the collector now serves its numbers."""
        before = self.generation()
        try:
            stats = await self._fetch()
        except (aiohttp.ClientError, TimeoutError, OSError, StatsFormatError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if error != self.last_error:  # once per new trouble: a restarting Envoy is not news each poll
                log.info("envoy stats not read", error=error)
            self.last_error = error
            return False
        if before is None or self.generation() != before:
            return False  # Envoy was (re)started meanwhile: which process answered is not known
        compiled = self.compiled()
        if compiled is not None and compiled is not self._mapped:
            # Kept, not replaced: a cluster the snapshot no longer has still adds its total to its
            # series, which must not go backwards.
            self.series, self._mapped = self.series.merged(series_map(compiled)), compiled
        totals = self.monotonic.update(before, flatten(stats))
        self.collector.golden = golden(totals, self.series, gauges=stats.values)
        self.polls += 1
        self.last_error = None
        return True

    async def _fetch(self) -> EnvoyStats:
        if self._session is None:
            # trust_env off: an HTTP(S)_PROXY in the agent's environment must not route loopback calls.
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        async with self._session.get(self.url) as response:
            body = await response.read()
            if response.status != 200:
                raise StatsFormatError(f"GET /stats answered {response.status}: {body[:200]!r}")
        return await asyncio.to_thread(_decode, body)


def _decode(body: bytes) -> EnvoyStats:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise StatsFormatError(f"GET /stats: not JSON ({exc})") from None
    return parse_stats(doc)
