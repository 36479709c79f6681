"""The inbound listener and local app clusters: what each filter chain is made of, and why."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from mesh.config.model import HostPort, LocalService
from mesh.envoy.translate import names
from mesh.envoy.translate.inbound import InboundInputs, InboundResources, InboundService, inbound_resources
from mesh.envoy.translate.protos import ads_source
from mesh.intentions import IntentionTable, read_intentions
from mesh.matching import compile_regex
from mesh.traffic.model import InstanceLevelRateLimits, RouteRateLimit
from mesh.traffic.model.defaults import ServiceDefaults

TD = "td.consul"


def service(name: str, *, http: bool = False, mode: str = "strict", **extra: Any) -> InboundService:
    local = LocalService(name, f"{name}-1", 9000 + len(name), address="127.0.0.9", protocol="http" if http else "tcp")
    return InboundService(local, http, "permissive" if mode == "permissive" else "strict", **extra)


def translate(*services: InboundService, sds: bool = False, rds: bool = False) -> InboundResources:
    reading = read_intentions([{"SourceName": "web", "DestinationName": "*", "Action": "allow"}])
    inputs = InboundInputs(
        services, "dc1", TD, HostPort("0.0.0.0", 20000), IntentionTable(reading.intentions), default_allow=False
    )
    return inbound_resources(
        inputs, sds_config=ads_source() if sds else None, route_source=ads_source() if rds else None
    )


def as_dict(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return out


def chains(resources: InboundResources) -> dict[str, dict[str, Any]]:
    assert resources.listener is not None
    return {c["name"]: c for c in as_dict(resources.listener)["filter_chains"]}


def test_one_listener_on_the_inbound_address_peeks_tls_and_has_a_chain_per_service_by_consul_sni() -> None:
    out = translate(service("db"), service("api", http=True))
    assert out.listener is not None
    listener = as_dict(out.listener)
    assert listener["name"] == names.INBOUND_LISTENER
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 20000}
    assert listener["traffic_direction"] == "INBOUND"
    assert [f["name"] for f in listener["listener_filters"]] == ["envoy.filters.listener.tls_inspector"]
    found = chains(out)
    assert set(found) == {"db", "api"}
    assert found["db"]["filter_chain_match"] == {
        "server_names": ["db.default.dc1.internal.td.consul"],
        "transport_protocol": "tls",
    }


def test_a_chain_requires_a_client_certificate_and_takes_the_leaf_and_roots_from_sds() -> None:
    tls = chains(translate(service("db"), sds=True))["db"]["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    # Every connection's chain is verified against the bundle in force: no resumption.
    assert tls["disable_stateless_session_resumption"] is True
    assert tls["disable_stateful_session_resumption"] is True
    common = tls["common_tls_context"]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    (leaf,) = common["tls_certificate_sds_secret_configs"]
    assert leaf["name"] == names.leaf_secret("db")
    assert "ads" in leaf["sds_config"]
    assert common["validation_context_sds_secret_config"]["name"] == names.ROOTS_SECRET


def test_without_an_sds_source_the_secrets_are_the_bootstraps_static_ones() -> None:
    common = chains(translate(service("db")))["db"]["transport_socket"]["typed_config"]["common_tls_context"]
    assert common["tls_certificate_sds_secret_configs"] == [{"name": names.leaf_secret("db")}]
    assert common["validation_context_sds_secret_config"] == {"name": names.ROOTS_SECRET}


def test_a_tcp_service_is_network_rbac_then_tcp_proxy_to_its_app() -> None:
    filters = chains(translate(service("db")))["db"]["filters"]
    assert [f["name"] for f in filters] == ["envoy.filters.network.rbac", "envoy.filters.network.tcp_proxy"]
    assert filters[1]["typed_config"]["cluster"] == names.local_app_cluster("db")


def test_an_http_service_is_authorized_per_request_and_its_app_told_who_called() -> None:
    filters = chains(translate(service("api", http=True, request_timeout=None)))["api"]["filters"]
    assert [f["name"] for f in filters] == [
        "envoy.filters.network.rbac",
        "envoy.filters.network.http_connection_manager",
    ]
    manager = filters[1]["typed_config"]
    assert [f["name"] for f in manager["http_filters"]] == ["envoy.filters.http.rbac", "envoy.filters.http.router"]
    assert manager["forward_client_cert_details"] == "SANITIZE_SET"
    assert manager["set_current_client_cert_details"] == {"uri": True}
    assert manager["normalize_path"] is True
    assert manager.get("merge_slashes", False) is False
    (route,) = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert route["route"]["cluster"] == names.local_app_cluster("api")
    assert route["route"]["timeout"] == "0s"  # no LocalRequestTimeoutMs deadline: none
    (denied,) = manager["local_reply_config"]["mappers"]
    assert {h["header"]["key"] for h in denied["headers_to_add"]} == {"x-mesh-denied", "x-mesh-reason"}


def test_max_inbound_connections_is_a_connection_limit_after_the_rbac() -> None:
    filters = chains(translate(service("db", max_inbound_connections=7)))["db"]["filters"]
    assert [f["name"] for f in filters][:2] == ["envoy.filters.network.rbac", "envoy.filters.network.connection_limit"]
    assert filters[1]["typed_config"]["max_connections"] == "7"


def test_one_permissive_service_gets_a_plaintext_chain_and_two_get_none() -> None:
    one = chains(translate(service("db", mode="permissive"), service("api", http=True)))
    assert one["db/plaintext"]["filter_chain_match"] == {"transport_protocol": "raw_buffer"}
    assert "transport_socket" not in one["db/plaintext"]
    two = chains(translate(service("db", mode="permissive"), service("api", http=True, mode="permissive")))
    assert set(two) == {"db", "api"}  # plaintext cannot be routed without SNI: refused, as the builtin plane does


def test_the_local_app_clusters_are_static_with_the_configured_address_and_connect_timeout() -> None:
    (cluster,) = (as_dict(c) for c in translate(service("db", connect_timeout=1.5)).clusters)
    assert cluster["name"] == names.local_app_cluster("db")
    assert cluster["type"] == "STATIC"
    assert cluster["connect_timeout"] == "1.500s"
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {"address": "127.0.0.9", "port_value": 9002}


def test_a_host_without_local_services_has_no_inbound_listener() -> None:
    assert translate() == InboundResources(None, ())


def test_service_defaults_decide_the_protocol_mode_and_limits_as_on_the_builtin_plane() -> None:
    local = LocalService("api", "api-1", 9000, protocol="tcp")
    defaults = ServiceDefaults(
        name="api",
        protocol="http",
        mutual_tls_mode="permissive",
        max_inbound_connections=3,
        local_connect_timeout_ms=250,
    )
    derived = InboundService.of(local, defaults, "strict")
    assert (derived.http, derived.mtls_mode, derived.max_inbound_connections) == (True, "permissive", 3)
    assert derived.connect_timeout == 0.25
    assert InboundService.of(local, None, "permissive").mtls_mode == "permissive"


def test_rate_limits_are_routes_in_order_each_with_its_bucket_and_the_service_wide_one_last() -> None:
    limits = InstanceLevelRateLimits(
        requests_per_second=100,
        requests_max_burst=0,
        routes=(
            RouteRateLimit(requests_per_second=4, requests_max_burst=8, path_exact="/login"),
            RouteRateLimit(requests_per_second=50, requests_max_burst=50, path_regex=compile_regex("/r/[0-9]+")),
        ),
    )
    filters = chains(translate(service("api", http=True, rate_limits=limits)))["api"]["filters"]
    manager = filters[-1]["typed_config"]
    # After the RBAC: a refused caller spends no token.
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.rbac",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.router",
    ]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["match"] for r in routes] == [{"path": "/login"}, {"safe_regex": {"regex": "/r/[0-9]+"}}, {"prefix": "/"}]
    buckets = [r["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]["token_bucket"] for r in routes]
    assert buckets[0] == {"max_tokens": 8, "tokens_per_fill": 1, "fill_interval": "0.250s"}
    assert buckets[2] == {
        "max_tokens": 100,
        "tokens_per_fill": 5,
        "fill_interval": "0.050s",
    }  # burst defaults to the rate
    assert all(r["route"]["cluster"] == names.local_app_cluster("api") for r in routes)


def test_without_a_service_wide_rate_other_requests_are_not_limited() -> None:
    limits = InstanceLevelRateLimits(
        routes=(RouteRateLimit(requests_per_second=1, requests_max_burst=1, path_prefix="/a"),)
    )
    manager = chains(translate(service("api", http=True, rate_limits=limits)))["api"]["filters"][-1]["typed_config"]
    first, last = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert "typed_per_filter_config" in first
    assert last["match"] == {"prefix": "/"}
    assert "typed_per_filter_config" not in last


def test_the_intentions_of_an_http_service_are_its_routes_per_route_rbac_and_the_filters_own_refuses_all() -> None:
    manager = chains(translate(service("api", http=True)))["api"]["filters"][-1]["typed_config"]
    rbac_filter = manager["http_filters"][0]["typed_config"]
    assert rbac_filter["rules"].get("policies", {}) == {}  # nothing allowed without the route's config
    (host,) = manager["route_config"]["virtual_hosts"]
    per_route = host["typed_per_filter_config"]["envoy.filters.http.rbac"]
    assert per_route["@type"].endswith("RBACPerRoute")
    assert per_route["rbac"]["rules"]["policies"]  # web => * allow


def test_with_a_route_source_the_routes_are_served_over_rds_and_returned() -> None:
    out = translate(service("api", http=True, mode="permissive"), service("db"), rds=True)
    found = chains(out)
    manager = found["api"]["filters"][-1]["typed_config"]
    assert "route_config" not in manager
    assert manager["rds"]["route_config_name"] == names.inbound_route("api")
    assert "ads" in manager["rds"]["config_source"]
    plaintext = found["api/plaintext"]["filters"][-1]["typed_config"]
    assert plaintext["rds"]["route_config_name"] == names.inbound_route("api", plaintext=True)
    assert [r.name for r in out.routes] == [names.inbound_route("api"), names.inbound_route("api", plaintext=True)]
    assert translate(service("db"), rds=True).routes == ()
