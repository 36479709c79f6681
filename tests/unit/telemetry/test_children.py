"""A metric's children are looked up once per label set and count in the registry as ever."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.metrics import HttpMetrics
from mesh.telemetry.children import Children
from mesh.telemetry.metrics import Metrics


def test_one_child_per_label_set_counting_in_the_registry() -> None:
    registry = CollectorRegistry()
    children = Children(Counter("hits", "Hits", ["direction", "result"], registry=registry))
    first = children.labels("inbound", "new")
    assert children.labels("inbound", "new") is first
    assert children.labels("inbound", "reused") is not first
    first.inc()
    children.labels("inbound", "new").inc()
    assert registry.get_sample_value("hits_total", {"direction": "inbound", "result": "new"}) == 2
    assert registry.get_sample_value("hits_total", {"direction": "inbound", "result": "reused"}) == 0


def test_denials_and_protocol_errors_are_counted_per_request() -> None:
    metrics = Metrics()
    http = HttpMetrics(metrics, access_log="off")
    for _ in range(3):
        record = RequestRecord("inbound", "web", "api", started=0.0, status=403, flags=["denied"])
        http.report(record, 0.001)
    http.report(RequestRecord("inbound", "web", "api", started=0.0, status=400, flags=["bad_request"]), 0.001)
    registry = metrics.registry
    assert registry.get_sample_value("mesh_http_requests_denied_total", {"destination": "api", "source": "web"}) == 3
    assert registry.get_sample_value("mesh_http_protocol_errors_total", {"direction": "inbound", "status": "400"}) == 1
