"""HTTP/2 and gRPC at L7 on the Envoy plane: what the translation makes of an http2/grpc service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.envoy.translate import names
from mesh.envoy.translate.access_log import access_log
from mesh.envoy.translate.clusters import HTTP_OPTIONS
from mesh.envoy.translate.inbound import InboundService, local_app_cluster
from mesh.envoy.translate.protos import ads_source
from mesh.envoy.translate.snapshot import Translation, translate
from mesh.snapshot.compiled import compile_snapshot
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.traffic.model.defaults import ServiceDefaults
from mesh.traffic.planes import ENVOY_L7
from mesh.traffic.state import TrafficState, next_state
from tests.unit.routing.world import instance

TD = "td.consul"
PREFIX = "mesh/config"
DOCS = {
    "service-defaults/api": "Protocol: grpc",
    "service-resolver/api": "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, "
    "v2: {Filter: 'Service.Meta.version == v2'}}",
    "service-splitter/api": "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v2}]",
    "service-router/api": "Routes: [{Match: {HTTP: {PathPrefix: /pkg.Echo/}}, Destination: {ServiceSubset: v1, "
    "NumRetries: 2, RetryOn: [cancelled, deadline-exceeded, resource-exhausted, unavailable]}}]",
}


def envoy_traffic(docs: Mapping[str, str]) -> TrafficState:
    """`docs` in force as the Envoy plane's agent reads them (http2/grpc at L7); fails on any error."""
    listing = [
        {"Key": f"{PREFIX}/{key}", "Value": text.encode(), "ModifyIndex": position}
        for position, (key, text) in enumerate(docs.items(), 1)
    ]
    state = next_state(TrafficState(), listing, prefix=PREFIX, l7=ENVOY_L7)
    assert not state.errors, {k: e.message for k, e in state.errors.items()}
    return state


def translated(local_protocol: str = "grpc") -> Translation:
    web = LocalService(name="web", id="web-1", port=8080, upstreams=(Upstream("api", 15000),))
    echo = LocalService(name="echo", id="echo-1", port=8081, protocol=local_protocol)
    config = AgentConfig(node="n1", advertise_address="10.0.0.5", services=(web, echo))
    api = (instance("a1", meta={"version": "v1"}), instance("a2", meta={"version": "v2"}))
    snap = MeshSnapshot(version=1, endpoints={UpstreamKey("api", "dc1"): api}, traffic=envoy_traffic(DOCS))
    return translate(compile_snapshot(config, "dc1", TD, snap, None), sds=ads_source())


def as_dicts(messages: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in messages:
        d = MessageToDict(m, preserving_proto_field_name=True)
        out[d.get("name") or d["cluster_name"]] = d
    return out


def test_a_grpc_upstream_is_an_auto_codec_manager_counting_grpc_status_before_routing() -> None:
    listener = as_dicts(translated().listeners)["upstream/web/api:127.0.0.1:15000"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    # AUTO: HTTP/1.1 or h2c (told by the connection preface) from the app.
    assert manager.get("codec_type", "AUTO") == "AUTO"
    filters = [f["name"] for f in manager["http_filters"]]
    assert filters == ["envoy.filters.http.grpc_stats", "envoy.filters.http.fault", "envoy.filters.http.router"]
    stats = manager["http_filters"][0]["typed_config"]
    assert stats["stats_for_all_methods"] is False  # per cluster: a caller cannot grow the stats
    assert "%GRPC_STATUS(NUMBER)%" in str(manager["access_log"][0]["typed_config"])


def test_only_a_grpc_upstreams_access_log_has_a_grpc_status() -> None:
    # Envoy infers a gRPC code from any HTTP status: on an http listener it would be noise.
    plain = MessageToDict(access_log("outbound", "web", "api"))["typedConfig"]["logFormat"]["jsonFormat"]
    grpc = MessageToDict(access_log("outbound", "web", "api", grpc=True))["typedConfig"]["logFormat"]["jsonFormat"]
    assert "grpc_status" not in plain
    assert grpc == {**plain, "grpc_status": "%GRPC_STATUS(NUMBER)%"}


def test_every_rpc_is_routed_split_and_retried_on_grpc_status_per_request() -> None:
    route = as_dicts(translated().routes)["upstream/web/api.dc1"]
    routes = route["virtual_hosts"][0]["routes"]
    by_method, default = routes
    assert by_method["match"] == {"prefix": "/pkg.Echo/"}
    retry = by_method["route"]["retry_policy"]
    assert retry["retry_on"].split(",") == [
        "cancelled",
        "deadline-exceeded",
        "resource-exhausted",
        "unavailable",
        "connect-failure",
    ]
    assert retry["num_retries"] == 2
    weights = default["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weights] == [
        ("web/v1.api.default.dc1.internal.td.consul", 5000),
        ("web/v2.api.default.dc1.internal.td.consul", 5000),
    ]


def test_clusters_toward_a_grpc_destination_speak_only_http2_negotiated_as_h2_between_agents() -> None:
    clusters = as_dicts(translated().clusters)
    for subset in ("v1", "v2"):
        cluster = clusters[f"web/{subset}.api.default.dc1.internal.td.consul"]
        tls = cluster["transport_socket"]["typed_config"]
        assert tls["common_tls_context"]["alpn_protocols"] == ["h2"]
        explicit = cluster["typed_extension_protocol_options"][HTTP_OPTIONS]["explicit_http_config"]
        assert set(explicit) == {"http2_protocol_options"}


@pytest.mark.parametrize("protocol", ["grpc", "http2"])
def test_an_http2_or_grpc_local_service_gets_an_l7_inbound_chain_offering_h2_and_h2c_to_the_app(
    protocol: str,
) -> None:
    out = translated(protocol)
    (inbound,) = (li for li in as_dicts(out.listeners).values() if li["name"] == names.INBOUND_LISTENER)
    (chain,) = (c for c in inbound["filter_chains"] if c["name"] == "echo")
    assert chain["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"] == ["h2", "http/1.1"]
    assert chain["filters"][-1]["name"] == "envoy.filters.network.http_connection_manager"
    manager = chain["filters"][-1]["typed_config"]
    assert manager["http_filters"][0]["name"] == "envoy.filters.http.rbac"  # per request, L7 intentions
    app = as_dicts(out.clusters)[names.local_app_cluster("echo")]
    explicit = app["typed_extension_protocol_options"][HTTP_OPTIONS]["explicit_http_config"]
    assert set(explicit) == {"http2_protocol_options"}


def test_an_http_or_tcp_local_app_keeps_its_protocol_and_a_document_decides_over_the_config() -> None:
    local = LocalService("echo", "echo-1", 8081, protocol="http")
    http = InboundService.of(local, None, "strict")
    assert (http.http, http.h2) == (True, False)
    assert "typed_extension_protocol_options" not in MessageToDict(local_app_cluster(http))
    grpc = InboundService.of(local, ServiceDefaults(name="echo", protocol="grpc"), "strict")
    assert (grpc.http, grpc.h2) == (True, True)
    tcp = InboundService.of(local, ServiceDefaults(name="echo", protocol="tcp"), "strict")
    assert (tcp.http, tcp.h2) == (False, False)
    unsaid = InboundService.of(LocalService("echo", "echo-1", 8081, protocol="grpc"), ServiceDefaults("echo"), "strict")
    assert (unsaid.http, unsaid.h2) == (True, True)
