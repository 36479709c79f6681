"""The upstream side of the translation: listeners, routes, clusters, endpoints and secrets."""

from __future__ import annotations

import dataclasses
from typing import Any

from google.protobuf.json_format import MessageToDict

from mesh.envoy.translate.protos import ads_source
from mesh.envoy.translate.snapshot import translate_outbound
from mesh.snapshot.compiled import compile_snapshot
from mesh.snapshot.model import UpstreamKey
from tests.unit.snapshot.test_compiled import _config, _snapshot

TD = "td.consul"


def _as_dicts(messages: Any) -> list[dict[str, Any]]:
    return [MessageToDict(m, preserving_proto_field_name=True) for m in messages]


def test_an_http_upstream_gets_a_manager_with_rds_and_weighted_subset_clusters() -> None:
    out = translate_outbound(compile_snapshot(_config(), "dc1", TD, _snapshot(), None), sds=ads_source())
    listeners = _as_dicts(out.listeners)
    assert [li["name"] for li in listeners] == ["upstream/web/api:127.0.0.1:15000", "upstream/web/db:127.0.0.1:15001"]
    manager = listeners[0]["filter_chains"][0]["filters"][0]
    assert manager["name"] == "envoy.filters.network.http_connection_manager"
    assert manager["typed_config"]["rds"]["route_config_name"] == "upstream/web/api.dc1"
    (route,) = _as_dicts(out.routes)
    (default,) = route["virtual_hosts"][0]["routes"]
    assert default["match"] == {"prefix": "/"}
    weights = default["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weights] == [
        ("web/v1.api.default.dc1.internal.td.consul", 9000),
        ("web/v2.api.default.dc1.internal.td.consul", 1000),
    ]
    tcp = listeners[1]["filter_chains"][0]["filters"][0]["typed_config"]
    assert tcp["cluster"] == "web/db.default.dc2.internal.td.consul"


def test_clusters_dial_with_the_callers_leaf_and_require_the_destinations_identity() -> None:
    out = translate_outbound(compile_snapshot(_config(), "dc1", TD, _snapshot(), None), sds=ads_source())
    clusters = {c["name"]: c for c in _as_dicts(out.clusters)}
    v1 = clusters["web/v1.api.default.dc1.internal.td.consul"]
    assert v1["type"] == "EDS"
    tls = v1["transport_socket"]["typed_config"]
    assert tls["sni"] == "api.default.dc1.internal.td.consul"  # the service's SNI, as the builtin plane sends
    common = tls["common_tls_context"]
    assert common["tls_certificate_sds_secret_configs"][0]["name"] == "mesh-leaf/web"
    san = common["combined_validation_context"]["default_validation_context"]["match_typed_subject_alt_names"]
    assert san[0]["matcher"]["exact"] == "spiffe://td.consul/ns/default/dc/dc1/svc/api"
    assert common["alpn_protocols"] == ["http/1.1"]
    endpoints = {e["cluster_name"]: e for e in _as_dicts(out.endpoints)}
    (v1_endpoint,) = endpoints["web/v1.api.default.dc1.internal.td.consul"]["endpoints"][0]["lb_endpoints"]
    assert v1_endpoint["endpoint"]["address"]["socket_address"] == {"address": "10.0.0.1", "port_value": 20000}


def test_a_split_with_no_endpoint_is_left_out_of_the_weights() -> None:
    snap = _snapshot()
    (v1, _v2) = snap.endpoints[UpstreamKey("api", "dc1")]
    snap = dataclasses.replace(snap, endpoints={UpstreamKey("api", "dc1"): (v1,)})
    out = translate_outbound(compile_snapshot(_config(), "dc1", TD, snap, None), sds=ads_source())
    (route,) = _as_dicts(out.routes)
    weights = route["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert [c["name"] for c in weights] == ["web/v1.api.default.dc1.internal.td.consul"]


def test_translation_is_deterministic() -> None:
    compiled = compile_snapshot(_config(), "dc1", TD, _snapshot(), None)
    first = translate_outbound(compiled, sds=ads_source())
    second = translate_outbound(compiled, sds=ads_source())
    for a, b in zip(dataclasses.astuple(first), dataclasses.astuple(second), strict=True):
        assert [m.SerializeToString(deterministic=True) for m in a] == [
            m.SerializeToString(deterministic=True) for m in b
        ]
