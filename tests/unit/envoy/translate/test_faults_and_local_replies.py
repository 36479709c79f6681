"""Fault injection and Envoy's local replies in the outbound translation: the fault filter's
per-route configuration from the plan's Fault, and the builtin plane's `x-mesh-reason` mapped
from Envoy's response flags."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.envoy.translate.local_replies import mappings
from mesh.envoy.translate.protos import ads_source
from mesh.envoy.translate.snapshot import Translation, translate
from mesh.proxy.http.flags import Flag
from mesh.snapshot.compiled import compile_snapshot
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.traffic.model import Limits
from tests.unit.envoy.translate.test_grpc import envoy_traffic
from tests.unit.routing.world import instance

TD = "td.consul"
FAULT = "envoy.filters.http.fault"
RESOLVER = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"
ROUTER = (
    "Routes: [{Match: {HTTP: {PathPrefix: /slow}}, Destination: {ServiceSubset: v1,"
    " Fault: {Delay: {Percent: 12.5, Duration: 200ms}, Abort: {Percent: 50, HTTPStatus: 503}}}}]"
)


def translated(docs: dict[str, str]) -> Translation:
    web = LocalService(name="web", id="web-1", port=8080, upstreams=(Upstream("api", 15000),))
    config = AgentConfig(node="n1", advertise_address="10.0.0.5", services=(web,))
    api = (
        instance("a1", meta={"version": "v1"}, protocol="http"),
        instance("a2", meta={"version": "v2"}, protocol="http"),
    )
    other = (instance("o1", service="other", protocol="http"),)
    endpoints = {UpstreamKey("api", "dc1"): api, UpstreamKey("other", "dc1"): other}
    snap = MeshSnapshot(version=1, endpoints=endpoints, traffic=envoy_traffic(docs))
    return translate(compile_snapshot(config, "dc1", TD, snap, None), sds=ads_source())


def routes(out: Translation) -> list[dict[str, Any]]:
    (config,) = [MessageToDict(r, preserving_proto_field_name=True) for r in out.routes]
    found: list[dict[str, Any]] = config["virtual_hosts"][0]["routes"]
    return found


def manager(out: Translation) -> dict[str, Any]:
    (listener,) = [
        MessageToDict(li, preserving_proto_field_name=True) for li in out.listeners if li.name.startswith("upstream/")
    ]
    found: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return found


def test_the_fault_filter_runs_before_the_router_and_injects_nothing_by_itself() -> None:
    filters = manager(translated({"service-defaults/api": "Protocol: http"}))["http_filters"]
    assert [f["name"] for f in filters] == [FAULT, "envoy.filters.http.router"]
    assert filters[0]["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    }


def test_a_routes_fault_is_its_per_route_fault_configuration_in_millionths() -> None:
    docs = {"service-defaults/api": "Protocol: http", "service-resolver/api": RESOLVER, "service-router/api": ROUTER}
    slow, default = routes(translated(docs))
    fault = slow["typed_per_filter_config"][FAULT]
    assert fault["delay"] == {"fixed_delay": "0.200s", "percentage": {"numerator": 125000, "denominator": "MILLION"}}
    assert fault["abort"] == {"http_status": 503, "percentage": {"numerator": 500000, "denominator": "MILLION"}}
    assert "typed_per_filter_config" not in default


def test_a_services_default_fault_applies_to_every_route_to_it_and_a_routes_own_wins() -> None:
    docs = {
        "service-defaults/api": "Protocol: http\nFault: {Abort: {Percent: 100, HTTPStatus: 418}}",
        "service-resolver/api": RESOLVER,
        "service-router/api": ROUTER,
    }
    slow, default = routes(translated(docs))
    assert slow["typed_per_filter_config"][FAULT]["abort"]["http_status"] == 503
    assert default["typed_per_filter_config"][FAULT]["abort"] == {
        "http_status": 418,
        "percentage": {"numerator": 1000000, "denominator": "MILLION"},
    }


def test_envoys_local_replies_carry_the_builtin_planes_reason_and_status() -> None:
    mappers = manager(translated({"service-defaults/api": "Protocol: http"}))["local_reply_config"]["mappers"]
    by_flag = {m["filter"]["response_flag_filter"]["flags"][0]: m for m in mappers}
    assert next(iter(by_flag)) == "FI"  # an abort is the request's only answer: named first
    reasons = {
        flag: {h["header"]["key"]: h["header"]["value"] for h in m["headers_to_add"]} for flag, m in by_flag.items()
    }
    assert reasons["UT"]["x-mesh-reason"] == "request-timeout"
    assert reasons["UH"]["x-mesh-reason"] == "no-endpoints"
    assert reasons["FI"]["x-mesh-reason"] == "fault-abort"
    assert reasons["UO"]["x-mesh-reason"] == "max-concurrent-requests"
    assert by_flag["UR"]["status_code"] == 502  # the builtin answers a reset upstream 502, Envoy 503
    assert "status_code" not in by_flag["FI"]  # the Fault's own status


def test_an_overflow_is_named_after_the_limit_the_callers_limits_set() -> None:
    def overflow(limits: Limits | None) -> Flag:
        return next(m.flag for m in mappings(limits) if m.envoy_flag == "UO")

    assert overflow(None) == Flag.MAX_CONCURRENT_REQUESTS
    assert overflow(Limits(max_concurrent_requests=2)) == Flag.MAX_CONCURRENT_REQUESTS
    assert overflow(Limits(max_connections=1, max_pending_requests=1)) == Flag.MAX_PENDING_REQUESTS
    assert overflow(Limits(max_pending_requests=1)) == Flag.MAX_PENDING_REQUESTS


def test_a_mirror_is_a_request_mirror_policy_to_the_shadows_cluster() -> None:
    docs = {
        "service-defaults/api": "Protocol: http",
        "service-resolver/api": "DefaultSubset: v1\n" + RESOLVER,
        "service-router/api": "Routes: [{Destination: {ServiceSubset: v1, Mirror: {Service: api, ServiceSubset: v2,"
        " Percent: 12.5}}}]",
    }
    out = translated(docs)
    (mirror,) = routes(out)[0]["route"]["request_mirror_policies"]
    assert mirror == {
        "cluster": "web/v2.api.default.dc1.internal.td.consul",
        "runtime_fraction": {"default_value": {"numerator": 1250, "denominator": "TEN_THOUSAND"}},
    }
    assert mirror["cluster"] in {c.name for c in out.clusters}


def test_a_routes_retry_budget_is_the_clusters_and_pending_requests_make_room_for_the_connections_opening() -> None:
    docs = {
        "service-defaults/api": "Protocol: http",
        "service-resolver/api": "DefaultSubset: v1\n" + RESOLVER,
        "service-router/api": "Routes: [{Destination: {NumRetries: 3, RetryOn: [5xx],"
        " RetryBudget: {Percent: 20, MinRetriesPerSecond: 0, TTL: 10s}}}]",
        "service-defaults/web": "Protocol: http\nUpstreamConfig: {Defaults: {Limits: {MaxConnections: 1,"
        " MaxPendingRequests: 1}}}",
    }
    clusters = {c.name: MessageToDict(c, preserving_proto_field_name=True) for c in translated(docs).clusters}
    (threshold,) = clusters["web/v1.api.default.dc1.internal.td.consul"]["circuit_breakers"]["thresholds"]
    assert threshold["retry_budget"] == {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 0}
    assert threshold["max_connections"] == 1
    assert threshold["max_pending_requests"] == 2  # the one waiting, and the one whose connection is opening
