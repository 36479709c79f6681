"""The golden metrics (`mesh_requests`, `mesh_request_duration_seconds`) from Envoy's stats (pure).

With `data_plane: envoy` no request passes through the agent, so the series the builtin plane
counts per request (mesh.proxy.http.metrics) are derived from what Envoy counts, read from its
admin `/stats?format=json&histogram_buckets=detailed` (agent.envoy_stats polls it):

- outbound: the upstream clusters `<caller>/<target SNI>` (names.target_cluster). Their
  `upstream_rq_<code>` counters give `mesh_requests_total{direction="outbound"}` and their
  `upstream_rq_time` histogram gives the duration. Which cluster is which (caller, target
  service, subset) is read from the compiled snapshot (`series_map`), not parsed from the
  name: the SNI holds dots, and Envoy's own tag extraction cuts the name at the first one.
  A retried attempt is charged by Envoy under `retry.upstream_rq_<code>`, so `upstream_rq_<code>`
  counts each request once, with the code the caller got, as the builtin plane does.
- inbound: the local app clusters `local-app/<service>`, plus the requests the RBAC filter refused
  (`http.inbound_<service>.rbac.denied`, code 403), which never reach the app's cluster but which
  the builtin plane counts. The caller is not in any of these stats: `source` is UNKNOWN_SOURCE.
- resilience, per (calling service, upstream) as mesh.resilience.metrics labels them, from the
  upstream clusters' stats (CLUSTER_COUNTERS): `upstream_rq_retry_overflow` (retries the retry
  budget refused: the clusters' max_retries is unlimited, so nothing else refuses one) is
  `mesh_retry_budget_exhausted`, `upstream_rq_retry` `mesh_retries` (Envoy does not say which
  condition allowed the retry: UNKNOWN_CONDITION), `outlier_detection.ejections_enforced_total`
  `mesh_outlier_ejections`, `upstream_rq_timeout` `mesh_request_timeouts` (inbound too, from the
  app's cluster); the `outlier_detection.ejections_active` gauge is `mesh_outlier_ejected_endpoints`.

Envoy's histograms are log-linear bins (two significant digits) of whole milliseconds for
request times; the builtin plane's buckets (mesh.telemetry.metrics._LATENCY) all fall on bin
edges, so each bucket's count is exact for those values. The sum is the bins' midpoints summed,
as Envoy's own Prometheus output computes it. The bootstrap configures Envoy's buckets for
`upstream_rq_time` to the same bounds (ENVOY_BUCKETS_MS) so its own /stats/prometheus agrees.

Envoy's counters restart at zero when Envoy restarts, and a cluster's stats start again when it
is removed and added back: `Monotonic` keeps an offset per stat so the agent's counters never go
backwards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Final

from mesh.envoy.translate import names
from mesh.envoy.translate.clusters import cluster_name
from mesh.routing.plan import Backend
from mesh.snapshot.compiled import CompiledSnapshot, CompiledUpstream
from mesh.telemetry.metrics import _LATENCY

LATENCY_BUCKETS: Final = _LATENCY
# Envoy records request times in milliseconds.
ENVOY_BUCKETS_MS: Final = tuple(round(b * 1000, 6) for b in _LATENCY)
# The inbound caller is not in Envoy's cluster stats (docs/envoy.md, Metrics and logs).
UNKNOWN_SOURCE: Final = "_unknown"
HTTP_PROTOCOLS: Final = frozenset({"http", "http2", "grpc"})

# What the poller asks for: only the stats used here (counters of codes, the request time, the
# RBAC's refusals, Envoy's uptime). RE2 syntax, as Envoy's admin filter takes.
STATS_FILTER: Final = (
    r"^cluster\..*\.(upstream_rq_[1-5][0-9][0-9]|upstream_rq_time|upstream_rq_retry|upstream_rq_retry_overflow"
    r"|upstream_rq_timeout|outlier_detection\.ejections_active|outlier_detection\.ejections_enforced_total)$"
    r"|^http\.inbound_.*\.rbac\.denied$"
    r"|^server\.uptime$"
)
_CODE = re.compile(r"\.upstream_rq_([1-5][0-9][0-9])")
_RQ_TIME = ".upstream_rq_time"
UNKNOWN_CONDITION: Final = "_unknown"
_EJECTED = ".outlier_detection.ejections_active"
_DENIED = ".rbac.denied"
UPTIME: Final = "server.uptime"


class StatsFormatError(ValueError):
    """Envoy's admin answered something that is not its stats document."""


@dataclass(frozen=True, slots=True)
class Bin:
    """One bin of an Envoy histogram: `count` values in [lower, lower + width)."""

    lower: float
    width: float
    count: int


@dataclass(frozen=True, slots=True)
class EnvoyStats:
    """One answer of Envoy's admin: counters and gauges by full stat name, histograms' bins."""

    values: Mapping[str, float]
    histograms: Mapping[str, tuple[Bin, ...]]

    @property
    def uptime(self) -> float | None:
        return self.values.get(UPTIME)


def parse_stats(doc: object) -> EnvoyStats:
    """`/stats?format=json&histogram_buckets=detailed`, decoded; StatsFormatError when it is not that."""
    if not isinstance(doc, dict) or not isinstance(doc.get("stats"), list):
        raise StatsFormatError("not an Envoy stats document (no 'stats' list)")
    values: dict[str, float] = {}
    histograms: dict[str, tuple[Bin, ...]] = {}
    for entry in doc["stats"]:
        if not isinstance(entry, dict):
            raise StatsFormatError(f"a stats entry is not an object: {entry!r:.100}")
        if "histograms" in entry:
            for name, bins in _histograms(entry["histograms"]):
                histograms[name] = bins
            continue
        stat, value = entry.get("name"), entry.get("value")
        if not isinstance(stat, str):
            raise StatsFormatError(f"a stat without a name: {entry!r:.100}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # a text readout: nothing to count
        values[stat] = float(value)
    return EnvoyStats(values, histograms)


def _histograms(block: object) -> Iterable[tuple[str, tuple[Bin, ...]]]:
    if not isinstance(block, dict):
        raise StatsFormatError("'histograms' is not an object")
    details = block.get("details", [])
    if not isinstance(details, list):
        raise StatsFormatError("'histograms.details' is not a list (was histogram_buckets=detailed asked?)")
    for h in details:
        if not isinstance(h, dict) or not isinstance(h.get("name"), str) or not isinstance(h.get("totals"), list):
            raise StatsFormatError(f"a histogram without a name or totals: {h!r:.100}")
        bins = []
        for b in h["totals"]:
            try:
                lower, width, count = float(b["lower_bound"]), float(b["width"]), int(b["count"])
            except (TypeError, KeyError, ValueError):
                raise StatsFormatError(f"a histogram bin is malformed: {b!r:.100}") from None
            if not (math.isfinite(lower) and math.isfinite(width)) or count < 0:
                raise StatsFormatError(f"a histogram bin is out of range: {b!r:.100}")
            bins.append(Bin(lower, width, count))
        yield h["name"], tuple(bins)


def flatten(stats: EnvoyStats, bounds_ms: tuple[float, ...] = ENVOY_BUCKETS_MS) -> dict[str, float]:
    """Every cumulative quantity as one counter: each value, and each histogram as its bucket
    counts (`<name>|le=<bound>`), its count and its sum (in Envoy's unit), so that `Monotonic`
    carries histograms across a restart like any counter."""
    out = dict(stats.values)
    for name, bins in stats.histograms.items():
        for bound in bounds_ms:
            # A bin lies wholly at or under the bound, or holds only values equal to it (the bounds
            # have two significant digits, as the bins' edges do: none cuts a bin).
            out[f"{name}|le={bound}"] = float(sum(b.count for b in bins if b.lower <= bound))
        out[f"{name}|count"] = float(sum(b.count for b in bins))
        out[f"{name}|sum"] = sum(b.count * (b.lower + b.width / 2) for b in bins)
    return out


@dataclass(slots=True)
class Monotonic:
    """Totals that never go backwards, from values that restart at zero.

    `generation` identifies the Envoy process the values came from (the supervisor's start time):
    a new one means every value started again from zero. Within one process, a stat that was
    missing from the previous answer (its cluster was removed) or went down started again too.
    A stat missing now keeps its total.
    """

    generation: object = None
    _last: dict[str, float] = field(default_factory=dict)
    _offset: dict[str, float] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def update(self, generation: object, values: Mapping[str, float]) -> dict[str, float]:
        if generation != self.generation:
            self.generation = generation
            self._seen = set()
        for name, value in values.items():
            last = self._last.get(name, 0.0)
            if name not in self._seen or value < last:
                self._offset[name] = self._offset.get(name, 0.0) + last
                last = 0.0
            self._last[name] = max(value, 0.0)
        self._seen = set(values)
        return self.totals()

    def totals(self) -> dict[str, float]:
        return {name: self._offset.get(name, 0.0) + last for name, last in self._last.items()}


@dataclass(frozen=True, slots=True)
class SeriesMap:
    """Which Envoy cluster (or RBAC stat prefix) counts which golden series.

    outbound: cluster -> (source, destination, subset); inbound: cluster or HCM stat prefix ->
    the local service (the destination); upstreams: cluster -> (calling service, upstream), the
    resilience series' labels (an upstream's destination name, which a redirect can make differ
    from the target service)."""

    outbound: Mapping[str, tuple[str, str, str]]
    inbound_clusters: Mapping[str, str]
    inbound_prefixes: Mapping[str, str]
    upstreams: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def merged(self, newer: SeriesMap) -> SeriesMap:
        """This map with `newer`'s entries added (a cluster's name says what it counts: a name
        never changes series, so entries are only ever added)."""
        return SeriesMap(
            {**self.outbound, **newer.outbound},
            {**self.inbound_clusters, **newer.inbound_clusters},
            {**self.inbound_prefixes, **newer.inbound_prefixes},
            {**self.upstreams, **newer.upstreams},
        )


def _counted_backends(upstream: CompiledUpstream) -> Iterable[Backend]:
    """The backends whose requests the caller gets answers from (mirrors excluded: their answers
    are discarded, and the builtin plane does not count them)."""
    chain = upstream.chain
    for destination in (chain.default, *(r.destination for r in chain.routes)):
        for backend in destination.backends:
            yield backend
            yield from backend.failover


def series_map(compiled: CompiledSnapshot) -> SeriesMap:
    outbound: dict[str, tuple[str, str, str]] = {}
    upstreams: dict[str, tuple[str, str]] = {}
    for upstream in compiled.upstreams:
        if not upstream.http:
            continue
        for backend in _counted_backends(upstream):
            target = backend.target
            name = cluster_name(upstream, target, compiled.trust_domain)
            outbound.setdefault(name, (upstream.service, target.service, target.subset or ""))
            upstreams.setdefault(name, (upstream.service, upstream.upstream.destination_name))
    clusters: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for inbound in compiled.inbound:
        if inbound.protocol not in HTTP_PROTOCOLS:
            continue
        service = inbound.service.name
        clusters[names.local_app_cluster(service)] = service
        # The HCM stat prefixes of the mTLS chain and the permissive plaintext one (translate.inbound).
        prefixes[f"inbound_{service}"] = service
        prefixes[f"inbound_{service}_plaintext"] = service
    return SeriesMap(outbound, clusters, prefixes, upstreams)


RequestKey = tuple[str, str, str, str, str]  # direction, source, destination, subset, code
SeriesKey = tuple[str, str, str, str]  # direction, source, destination, subset


@dataclass(slots=True)
class Latency:
    """One duration series: cumulative counts per bucket (seconds), count, sum (seconds)."""

    buckets: list[float]
    count: float = 0.0
    total: float = 0.0


UpstreamKey = tuple[str, str]  # calling service, upstream
# An upstream cluster's counter -> the builtin plane's family, and its labels from (caller, upstream).
CLUSTER_COUNTERS: Final[dict[str, tuple[str, Callable[[str, str], tuple[str, ...]]]]] = {
    ".upstream_rq_retry_overflow": ("mesh_retry_budget_exhausted", lambda s, u: (s, u)),
    ".upstream_rq_retry": ("mesh_retries", lambda s, u: (s, u, UNKNOWN_CONDITION)),
    ".outlier_detection.ejections_enforced_total": ("mesh_outlier_ejections", lambda s, u: (s, u)),
    ".upstream_rq_timeout": ("mesh_request_timeouts", lambda s, u: ("outbound", s, u)),
}
# The same for the local app's cluster, from the local service.
APP_COUNTERS: Final[dict[str, tuple[str, Callable[[str], tuple[str, ...]]]]] = {
    ".upstream_rq_timeout": ("mesh_request_timeouts", lambda service: ("inbound", service, "")),
}


@dataclass(frozen=True, slots=True)
class Golden:
    requests: dict[RequestKey, float]
    durations: dict[SeriesKey, Latency]
    # Other counters by family name (CLUSTER_COUNTERS, APP_COUNTERS), then label values.
    counters: dict[str, dict[tuple[str, ...], float]] = field(default_factory=dict)
    ejected: dict[UpstreamKey, float] = field(default_factory=dict)


def golden(
    totals: Mapping[str, float],
    series: SeriesMap,
    gauges: Mapping[str, float] | None = None,
    bounds_ms: tuple[float, ...] = ENVOY_BUCKETS_MS,
) -> Golden:
    """The golden series from the monotonic totals of `flatten`ed stats, and the gauges from the
    latest answer as it is (`EnvoyStats.values`: a gauge is no total).

    Several clusters can feed one series (the same service and subset in two datacenters, through
    failover): they add up."""
    requests: dict[RequestKey, float] = {}
    durations: dict[SeriesKey, Latency] = {}
    counters: dict[str, dict[tuple[str, ...], float]] = {}
    ejected: dict[UpstreamKey, float] = {}
    clusters = series.outbound.keys() | series.inbound_clusters.keys()
    for stat, value in (gauges or {}).items():
        if stat.startswith("cluster.") and stat.endswith(_EJECTED):
            up = series.upstreams.get(stat[len("cluster.") : -len(_EJECTED)])
            if up is not None:
                ejected[up] = ejected.get(up, 0.0) + value
    for stat, value in totals.items():
        found = _series_of(stat, series, clusters)
        if found is None:
            continue
        key, rest = found
        if rest.startswith(_RQ_TIME + "|"):
            latency = durations.get(key)
            if latency is None:
                latency = durations[key] = Latency([0.0] * len(bounds_ms))
            part = rest[len(_RQ_TIME) + 1 :]
            if part == "count":
                latency.count += value
            elif part == "sum":
                latency.total += value / 1000
            elif part.startswith("le="):
                try:
                    index = bounds_ms.index(float(part[3:]))
                except ValueError:
                    continue  # a bound of other settings (totals kept from before a change)
                latency.buckets[index] += value
        elif rest in CLUSTER_COUNTERS or rest in APP_COUNTERS:
            found_counter = _counter_of(stat[len("cluster.") : -len(rest)], rest, series)
            if found_counter is not None:
                family, labels = found_counter
                into = counters.setdefault(family, {})
                into[labels] = into.get(labels, 0.0) + value
        elif rest == _DENIED:
            requests[(*key, "403")] = requests.get((*key, "403"), 0.0) + value
        else:
            code = _CODE.fullmatch(rest)
            if code is not None:
                k = (*key, code[1])
                requests[k] = requests.get(k, 0.0) + value
    return Golden(requests, durations, counters, ejected)


def _counter_of(cluster: str, rest: str, series: SeriesMap) -> tuple[str, tuple[str, ...]] | None:
    up = series.upstreams.get(cluster)
    if up is not None and rest in CLUSTER_COUNTERS:
        family, labels = CLUSTER_COUNTERS[rest]
        return family, labels(*up)
    service = series.inbound_clusters.get(cluster)
    if service is not None and rest in APP_COUNTERS:
        app_family, app_labels = APP_COUNTERS[rest]
        return app_family, app_labels(service)
    return None


def _series_of(stat: str, series: SeriesMap, clusters: Set[str]) -> tuple[SeriesKey, str] | None:
    """The series a stat counts for, and the rest of its name after the cluster or prefix."""
    if stat.startswith("cluster."):
        name, rest = _split_known(stat[len("cluster.") :], clusters)
        if name is None:
            return None
        if name in series.outbound:
            source, destination, subset = series.outbound[name]
            return ("outbound", source, destination, subset), rest
        return ("inbound", UNKNOWN_SOURCE, series.inbound_clusters[name], ""), rest
    if stat.startswith("http.") and stat.endswith(_DENIED):
        prefix = stat[len("http.") : -len(_DENIED)]
        service = series.inbound_prefixes.get(prefix)
        if service is None:
            return None
        return ("inbound", UNKNOWN_SOURCE, service, ""), _DENIED
    return None


def _split_known(text: str, known: Set[str]) -> tuple[str | None, str]:
    """`<cluster>.<stat>` cut where a known cluster name ends (names hold dots); the stat of a
    cluster's own stats has no prefix such as `external.` or `retry.` before it here."""
    for suffix in (_RQ_TIME, ".outlier_detection.", ".upstream_rq_"):
        at = text.rfind(suffix)
        if at > 0:
            name = text[:at]
            return (name if name in known else None), text[at:]
    return None, ""
