"""Client identities in metric labels are bounded per destination: the series stop growing.

Identities are CA-signed, so many distinct callers mean a huge estate or a compromised
signing path; either way one destination's series must not grow with them.
"""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.metrics import HttpMetrics
from mesh.telemetry.metrics import Metrics
from mesh.telemetry.source_labels import OVERFLOW_SOURCE, SourceLabels


def test_the_first_sources_of_a_destination_keep_their_name_and_the_rest_share_one() -> None:
    labels = SourceLabels(limit=2)
    assert [labels.label("api", s) for s in ("web", "batch", "cron", "web", "db")] == [
        "web",
        "batch",
        OVERFLOW_SOURCE,
        "web",
        OVERFLOW_SOURCE,
    ]
    assert labels.overflowed == {"api": 2}


def test_each_destination_has_its_own_allowance() -> None:
    labels = SourceLabels(limit=1)
    assert labels.label("api", "web") == "web"
    assert labels.label("db", "batch") == "batch"
    assert labels.label("api", "batch") == OVERFLOW_SOURCE


def test_no_identity_and_the_overflow_value_take_no_place() -> None:
    labels = SourceLabels(limit=1)
    assert labels.label("api", "") == "-"
    assert labels.label("api", "-") == "-"
    assert labels.label("api", OVERFLOW_SOURCE) == OVERFLOW_SOURCE
    assert labels.label("api", "web") == "web"
    assert labels.overflowed == {}


def test_the_overflow_value_can_never_be_a_service_name() -> None:
    from mesh.identity import is_valid_service_name

    assert not is_valid_service_name(OVERFLOW_SOURCE)


def _series_by_source(metrics: Metrics) -> dict[str, int]:
    """How many samples each value of a `source` label has in the rendered registry."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if "source" in s.labels:
                counts[s.labels["source"]] = counts.get(s.labels["source"], 0) + 1
    return counts


def _one_caller(metrics: Metrics, http: HttpMetrics, source: str) -> None:
    """What one inbound caller's connection and request add: the connection counter and the
    request's counter and latency histogram, and a denial."""
    metrics.inbound_connections.labels("api", source, "allowed").inc()
    metrics.connections_closed_by_policy.labels("api", source).inc()
    record = RequestRecord(direction="inbound", source=source, destination="api", started=time.perf_counter())
    record.status = 403
    record.flags.append("denied")
    http.report(record, time.perf_counter())


def test_a_thousand_client_identities_add_no_series_after_the_first_hundred() -> None:
    metrics = Metrics()
    http = HttpMetrics(metrics, access_log="off")
    for i in range(1000):
        _one_caller(metrics, http, f"caller-{i}")
    by_source = _series_by_source(metrics)
    assert len(by_source) <= 101  # the default allowance, and the overflow value
    per_source = by_source["caller-0"]
    assert by_source[OVERFLOW_SOURCE] == per_source  # 900 callers, the series of one


def test_what_was_folded_is_counted_per_destination() -> None:
    metrics = Metrics(max_sources_per_destination=2)
    http = HttpMetrics(metrics, access_log="off")
    for source in ("web", "batch", "cron", "cron", "db"):
        _one_caller(metrics, http, source)
    assert set(_series_by_source(metrics)) == {"web", "batch", OVERFLOW_SOURCE}
    rendered = metrics.render().decode()
    # cron twice and db once, each folded three times: its connection, its close, its request.
    assert 'mesh_metric_source_overflow_total{destination="api"} 9.0' in rendered
