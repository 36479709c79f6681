"""The golden metrics from Envoy's stats: parsing, histograms, monotonic totals, series (mesh.envoy.stats)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mesh.envoy.stats import (
    ENVOY_BUCKETS_MS,
    LATENCY_BUCKETS,
    UNKNOWN_CONDITION,
    UNKNOWN_SOURCE,
    Bin,
    EnvoyStats,
    Monotonic,
    SeriesMap,
    StatsFormatError,
    flatten,
    golden,
    parse_stats,
    series_map,
)
from mesh.snapshot.compiled import compile_snapshot
from tests.unit.snapshot.test_compiled import _config, _snapshot

TD = "td.consul"
V1 = "web/v1.api.default.dc1.internal.td.consul"
V2 = "web/v2.api.default.dc1.internal.td.consul"


def _histogram(name: str, *bins: tuple[float, float, int]) -> dict[str, Any]:
    totals = [{"lower_bound": lo, "width": w, "count": n} for lo, w, n in bins]
    return {"name": name, "totals": totals, "intervals": [], "percentiles": []}


def _doc(values: dict[str, float], *histograms: dict[str, Any]) -> dict[str, Any]:
    """A document shaped as Envoy 1.40 answers /stats?format=json&histogram_buckets=detailed."""
    stats: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items()]
    stats.append({"name": "server.version_text", "value": "1.40.0"})  # a text readout, ignored
    stats.append({"histograms": {"supported_percentiles": [0, 50, 100], "details": list(histograms)}})
    return {"stats": stats}


SERIES = SeriesMap(
    outbound={V1: ("web", "api", "v1"), V2: ("web", "api", "v2")},
    inbound_clusters={"local-app/api": "api"},
    inbound_prefixes={"inbound_api": "api", "inbound_api_plaintext": "api"},
)


def test_a_stats_document_is_read_into_values_and_histogram_bins() -> None:
    stats = parse_stats(
        _doc({f"cluster.{V1}.upstream_rq_200": 3, "server.uptime": 7}, _histogram(f"cluster.{V1}.upstream_rq_time"))
    )
    assert stats.values == {f"cluster.{V1}.upstream_rq_200": 3.0, "server.uptime": 7.0}
    assert stats.uptime == 7.0
    assert stats.histograms == {f"cluster.{V1}.upstream_rq_time": ()}


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"stats": "x"},
        {"stats": [1]},
        {"stats": [{"value": 1}]},
        {"stats": [{"histograms": {"computed_quantiles": [], "details": "x"}}]},
        {"stats": [{"histograms": {"details": [{"name": "h"}]}}]},
        {"stats": [{"histograms": {"details": [_histogram("h") | {"totals": [{"lower_bound": 1}]}]}}]},
        {"stats": [{"histograms": {"details": [_histogram("h", (float("nan"), 0.1, 1))]}}]},
        {"stats": [{"histograms": {"details": [_histogram("h", (1, 0.1, -1))]}}]},
    ],
)
def test_what_is_not_envoys_stats_document_is_a_clear_error(doc: object) -> None:
    with pytest.raises(StatsFormatError):
        parse_stats(doc)


def test_a_histogram_becomes_the_builtin_buckets_count_and_sum() -> None:
    # Envoy's bins of whole milliseconds: three requests of 0 ms, two of 1 ms, one of 30 ms, one of 12 s.
    bins = (Bin(0, 0.1, 3), Bin(1, 0.1, 2), Bin(30, 1, 1), Bin(12000, 1000, 1))
    flat = flatten(EnvoyStats({}, {"h": bins}))
    buckets = [flat[f"h|le={b}"] for b in ENVOY_BUCKETS_MS]
    # 0.5 ms 1 2.5 5 10 25 50 ... 10 s
    assert buckets == [3, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6]
    assert flat["h|count"] == 7
    assert flat["h|sum"] == pytest.approx(3 * 0.05 + 2 * 1.05 + 30.5 + 12500)


def test_envoys_buckets_are_the_builtin_planes_in_milliseconds() -> None:
    assert [b / 1000 for b in ENVOY_BUCKETS_MS] == pytest.approx(list(LATENCY_BUCKETS))


def test_totals_carry_on_across_an_envoy_restart() -> None:
    m = Monotonic()
    assert m.update("first", {"a": 5, "b": 2}) == {"a": 5, "b": 2}
    assert m.update("first", {"a": 7, "b": 2}) == {"a": 7, "b": 2}
    # The new process has counted 9 already: more than before, still a restart from zero.
    assert m.update("second", {"a": 9}) == {"a": 16, "b": 2}
    assert m.update("second", {"a": 10, "b": 1}) == {"a": 17, "b": 3}


def test_a_stat_that_went_away_starts_again_from_zero_when_it_is_back() -> None:
    m = Monotonic()
    m.update(1, {"a": 4})
    assert m.update(1, {}) == {"a": 4}  # its cluster removed: the total stays
    assert m.update(1, {"a": 6}) == {"a": 10}  # added back: a new scope counted 6


def test_a_stat_that_went_down_in_one_process_is_taken_as_restarted() -> None:
    m = Monotonic()
    m.update(1, {"a": 4})
    assert m.update(1, {"a": 1}) == {"a": 5}


def test_outbound_cluster_stats_are_the_callers_series_by_subset_and_code() -> None:
    totals = {
        f"cluster.{V1}.upstream_rq_200": 9.0,
        f"cluster.{V1}.upstream_rq_503": 1.0,
        f"cluster.{V2}.upstream_rq_200": 4.0,
        # Envoy's own breakdowns of the same requests, and retried attempts: not counted again.
        f"cluster.{V1}.external.upstream_rq_200": 9.0,
        f"cluster.{V1}.retry.upstream_rq_503": 2.0,
        f"cluster.{V1}.upstream_rq_2xx": 9.0,
        "cluster.other/x.upstream_rq_200": 1.0,
    }
    out = golden(totals, SERIES)
    assert out.requests == {
        ("outbound", "web", "api", "v1", "200"): 9.0,
        ("outbound", "web", "api", "v1", "503"): 1.0,
        ("outbound", "web", "api", "v2", "200"): 4.0,
    }


def test_inbound_counts_the_apps_cluster_and_the_rbacs_refusals_with_an_unknown_source() -> None:
    totals = {
        "cluster.local-app/api.upstream_rq_200": 5.0,
        "http.inbound_api.rbac.denied": 2.0,
        "http.inbound_api_plaintext.rbac.denied": 1.0,
        "http.inbound_other.rbac.denied": 1.0,
    }
    out = golden(totals, SERIES)
    assert out.requests == {
        ("inbound", UNKNOWN_SOURCE, "api", "", "200"): 5.0,
        ("inbound", UNKNOWN_SOURCE, "api", "", "403"): 3.0,
    }


def test_durations_are_in_seconds_and_clusters_of_one_series_add_up() -> None:
    failover = "web/v1.api.default.dc2.internal.td.consul"
    series = dataclasses.replace(SERIES, outbound={**SERIES.outbound, failover: ("web", "api", "v1")})
    flat = flatten(
        EnvoyStats(
            {},
            {
                f"cluster.{V1}.upstream_rq_time": (Bin(2, 0.1, 1),),
                f"cluster.{failover}.upstream_rq_time": (Bin(40, 1, 1),),
            },
        )
    )
    out = golden(flat, series)
    latency = out.durations[("outbound", "web", "api", "v1")]
    assert latency.count == 2
    assert latency.total == pytest.approx((2.05 + 40.5) / 1000)
    # 0.5 1 2.5 5 10 25 50 ms ...
    assert latency.buckets[:7] == [0, 0, 1, 1, 1, 1, 2]


def test_the_series_map_comes_from_the_compiled_snapshot() -> None:
    config = _config()
    web = dataclasses.replace(config.services[0], protocol="http")
    compiled = compile_snapshot(dataclasses.replace(config, services=(web,)), "dc1", TD, _snapshot(), None)
    found = series_map(compiled)
    # api is http with a v1/v2 split; db (tcp) has no request series.
    assert found.outbound == {V1: ("web", "api", "v1"), V2: ("web", "api", "v2")}
    assert found.inbound_clusters == {"local-app/web": "web"}
    assert found.inbound_prefixes == {"inbound_web": "web", "inbound_web_plaintext": "web"}
    assert found.upstreams == {V1: ("web", "api"), V2: ("web", "api")}


def test_a_merged_map_keeps_clusters_the_newer_snapshot_dropped() -> None:
    newer = SeriesMap({V1: ("web", "api", "v1")}, {}, {})
    merged = SERIES.merged(newer)
    assert merged.outbound.keys() == {V1, V2}
    assert merged.inbound_clusters == SERIES.inbound_clusters


def test_the_resilience_counters_are_per_calling_service_and_upstream() -> None:
    series = dataclasses.replace(SERIES, upstreams={V1: ("web", "api"), V2: ("web", "api")})
    totals = {
        f"cluster.{V1}.upstream_rq_retry_overflow": 2.0,
        f"cluster.{V2}.upstream_rq_retry_overflow": 1.0,
        f"cluster.{V1}.upstream_rq_retry": 7.0,
        f"cluster.{V1}.outlier_detection.ejections_enforced_total": 1.0,
        f"cluster.{V2}.upstream_rq_timeout": 3.0,
        "cluster.local-app/api.upstream_rq_timeout": 4.0,
        "cluster.local-app/api.upstream_rq_retry": 9.0,  # no retries toward the app: not a series
    }
    gauges = {
        f"cluster.{V1}.outlier_detection.ejections_active": 1.0,
        f"cluster.{V2}.outlier_detection.ejections_active": 2.0,
        "cluster.local-app/api.outlier_detection.ejections_active": 5.0,  # no upstream of ours
    }
    out = golden(totals, series, gauges=gauges)
    assert out.counters == {
        "mesh_retry_budget_exhausted": {("web", "api"): 3.0},
        "mesh_retries": {("web", "api", UNKNOWN_CONDITION): 7.0},
        "mesh_outlier_ejections": {("web", "api"): 1.0},
        "mesh_request_timeouts": {("outbound", "web", "api"): 3.0, ("inbound", "api", ""): 4.0},
    }
    assert out.ejected == {("web", "api"): 3.0}
    assert out.requests == {}
