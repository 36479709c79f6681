"""Which path an upstream takes (L4 or L7), and which services the agent must watch for it."""

from __future__ import annotations

from mesh.routing import (
    Balancers,
    RoundRobin,
    Target,
    WeightedRandom,
    plan_connection,
    reachable_targets,
    upstream_protocol,
)
from mesh.traffic.state import TrafficState
from tests.unit.routing.world import instance, rng, traffic


def test_service_defaults_decide_the_protocol_when_they_say() -> None:
    http_instances = (instance("a", protocol="http"),)
    assert upstream_protocol(traffic({"service-defaults/api": "Protocol: tcp"}), "api", http_instances) == "tcp"
    assert upstream_protocol(traffic({"service-defaults/api": "Protocol: http"}), "api", ()) == "http"
    assert upstream_protocol(traffic({"service-defaults/api": "Protocol: grpc"}), "api", ()) == "tcp"


def test_otherwise_the_registered_protocol_and_tcp_when_in_doubt() -> None:
    state = TrafficState()
    assert upstream_protocol(state, "api", (instance("a", protocol="http"),)) == "http"
    assert upstream_protocol(state, "api", (instance("a", protocol="http"), instance("b"))) == "tcp"
    assert upstream_protocol(state, "api", ()) == "tcp"


def test_reachable_targets_cover_routes_splits_failover_and_mirrors() -> None:
    state = traffic(
        {
            "service-defaults/api": "Protocol: http",
            "service-defaults/billing": "Protocol: http",
            "service-defaults/shadow": "Protocol: http",
            "service-splitter/api": "Splits: [{Weight: 50}, {Weight: 50, Service: billing}]",
            "service-resolver/billing": "Failover: {'*': {Datacenters: [dc2]}}",
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathPrefix: /x}}, Destination: {Mirror: {Service: shadow}}}]"
            ),
        }
    )
    assert reachable_targets(state, "api", "dc1", None) == {
        Target("api", None, "dc1"),
        Target("billing", None, "dc1"),
        Target("billing", None, "dc2"),
        Target("shadow", None, "dc1"),
    }


def test_one_balancer_per_target_renewed_when_its_policy_changes() -> None:
    balancers = Balancers(rng())
    before = plan_connection(TrafficState(), "api", "dc1", rng()).backend
    first = balancers.get("api", before)
    assert isinstance(first, RoundRobin)
    assert balancers.get("api", before) is first
    after = plan_connection(traffic({"service-resolver/api": "LoadBalancer: {Policy: random}"}), "api", "dc1", rng())
    assert isinstance(balancers.get("api", after.backend), WeightedRandom)
    assert len(balancers) == 1
