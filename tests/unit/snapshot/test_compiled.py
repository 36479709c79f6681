"""The compiled snapshot: per local service and upstream, what a data plane needs, reused when unchanged."""

from __future__ import annotations

import dataclasses

from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.snapshot.compiled import compile_snapshot, destination_protocol
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.traffic.resolution import Target
from tests.unit.routing.world import instance, traffic

SPLIT = """
Kind: service-splitter
Name: api
Splits:
  - {Weight: 90, ServiceSubset: v1}
  - {Weight: 10, ServiceSubset: v2}
"""
RESOLVER = """
Kind: service-resolver
Name: api
Subsets:
  v1: {Filter: 'Service.Meta.version == v1'}
  v2: {Filter: 'Service.Meta.version == v2'}
"""


def _config() -> AgentConfig:
    web = LocalService(
        name="web", id="web-1", port=8080, upstreams=(Upstream("api", 15000), Upstream("db", 15001, datacenter="dc2"))
    )
    return AgentConfig(node="n1", advertise_address="10.0.0.5", services=(web,))


def _snapshot() -> MeshSnapshot:
    endpoints = {
        UpstreamKey("api", "dc1"): (
            instance("a1", meta={"version": "v1"}, protocol="http"),
            instance("a2", meta={"version": "v2"}, protocol="http"),
        ),
    }
    return MeshSnapshot(
        version=3,
        endpoints=endpoints,
        traffic=traffic({"service-splitter/api": SPLIT, "service-resolver/api": RESOLVER}),
    )


def test_each_upstream_has_its_chain_and_subset_endpoints() -> None:
    compiled = compile_snapshot(_config(), "dc1", "td.consul", _snapshot(), None)
    api, db = compiled.upstreams
    assert (api.service, api.upstream.destination_name, api.datacenter, api.protocol) == ("web", "api", "dc1", "http")
    assert [b.target.subset for b in api.chain.default.backends] == ["v1", "v2"]
    assert [e.instance_id for e in api.targets[Target("api", "v1", "dc1")]] == ["a1"]
    assert [e.instance_id for e in api.targets[Target("api", "v2", "dc1")]] == ["a2"]
    assert (db.datacenter, db.protocol, dict(db.targets)) == ("dc2", "tcp", {Target("db", None, "dc2"): ()})
    assert compiled.version == 3
    assert compiled.inbound[0].protocol == "tcp"
    assert compiled.inbound[0].mtls_mode == "strict"


def test_an_upstream_is_reused_when_nothing_it_reads_changed() -> None:
    config = _config()
    first = compile_snapshot(config, "dc1", "td.consul", _snapshot(), None)
    snap = first.source
    other_endpoints = {**snap.endpoints, UpstreamKey("db", "dc2"): (instance("d1", service="db", datacenter="dc2"),)}
    second = compile_snapshot(
        config, "dc1", "td.consul", dataclasses.replace(snap, endpoints=other_endpoints), None, first
    )
    assert second.upstreams[0] is first.upstreams[0]  # api: same traffic, same endpoint tuples
    assert second.upstreams[1] is not first.upstreams[1]
    assert [e.instance_id for e in second.upstreams[1].targets[Target("db", None, "dc2")]] == ["d1"]


def test_destination_protocol_prefers_the_document_then_agreeing_registrations() -> None:
    docs = traffic({"service-defaults/api": "Kind: service-defaults\nName: api\nProtocol: grpc\n"})
    http = (instance("a", protocol="http"),)
    assert destination_protocol(docs, "api", http) == "grpc"
    assert destination_protocol(traffic({}), "api", http) == "http"
    mixed = (instance("a", protocol="http"), instance("b", protocol="tcp"))
    assert destination_protocol(traffic({}), "api", mixed) == "tcp"
    assert destination_protocol(traffic({}), "api", ()) == "tcp"
