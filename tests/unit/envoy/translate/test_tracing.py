"""Span export on the Envoy plane: a collector cluster and the tracer on every HTTP manager."""

from __future__ import annotations

import dataclasses

from google.protobuf.json_format import MessageToDict

from mesh.config.model import TracingSettings
from mesh.envoy.translate.protos import ads_source
from mesh.envoy.translate.snapshot import translate
from mesh.envoy.translate.tracing import COLLECTOR_CLUSTER, collector_cluster
from mesh.snapshot.compiled import compile_snapshot
from tests.unit.snapshot.test_compiled import _config, _snapshot


def test_every_http_manager_exports_to_the_collector_with_its_services_name_and_parent_based_sampling() -> None:
    config = dataclasses.replace(_config(), tracing=TracingSettings("http://127.0.0.1:4318", sample_rate=0.25))
    out = translate(compile_snapshot(config, "dc1", "td.consul", _snapshot(), None), sds=ads_source())
    assert COLLECTOR_CLUSTER in {c.name for c in out.clusters}
    (listener,) = (li for li in out.listeners if li.name == "upstream/web/api:127.0.0.1:15000")
    manager = MessageToDict(listener.filter_chains[0].filters[0], preserving_proto_field_name=True)["typed_config"]
    tracer = manager["tracing"]["provider"]["typed_config"]
    assert tracer["service_name"] == "web"
    assert tracer["http_service"]["http_uri"]["uri"] == "http://127.0.0.1:4318/v1/traces"
    ratio = tracer["sampler"]["typed_config"]["wrapped_sampler"]["typed_config"]["sampling_percentage"]
    assert ratio == {"numerator": 250_000, "denominator": "MILLION"}


def test_no_tracing_section_exports_nothing() -> None:
    out = translate(compile_snapshot(_config(), "dc1", "td.consul", _snapshot(), None), sds=ads_source())
    assert COLLECTOR_CLUSTER not in {c.name for c in out.clusters}


def test_a_named_https_collector_is_resolved_by_dns_and_dialled_over_tls() -> None:
    cluster = collector_cluster(TracingSettings("https://otel.example.internal"))
    assert cluster.type == cluster.STRICT_DNS
    assert cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value == 443
    assert cluster.transport_socket.name == "envoy.transport_sockets.tls"
