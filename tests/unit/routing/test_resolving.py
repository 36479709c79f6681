"""Resolving a target: Redirect, DefaultSubset, subset membership, failover."""

from __future__ import annotations

import pytest

from mesh.routing import Target, endpoints_for_target, plan_connection
from mesh.traffic import ServiceResolver, parse_document
from mesh.traffic.state import TrafficState, next_state
from tests.unit.routing.world import PREFIX, instance, rng, traffic

VERSIONS = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"


def resolver(text: str) -> ServiceResolver:
    doc = parse_document("service-resolver", "api", text)
    assert isinstance(doc, ServiceResolver)
    return doc


def test_without_documents_the_target_is_the_upstream_with_all_instances() -> None:
    plan = plan_connection(TrafficState(), "api", "dc1", rng())
    assert plan.target == Target("api", None, "dc1")
    assert plan.backend.requested is None


def test_default_subset_applies_when_none_is_asked_for() -> None:
    plan = plan_connection(traffic({"service-resolver/api": "DefaultSubset: v2\n" + VERSIONS}), "api", "dc1", rng())
    assert plan.target == Target("api", "v2", "dc1")
    assert plan.backend.requested == Target("api", None, "dc1")


def test_redirect_to_another_service_and_datacenter_gets_that_services_default_subset() -> None:
    state = traffic(
        {
            "service-resolver/api": "Redirect: {Service: api-next, Datacenter: dc2}",
            "service-resolver/api-next": "DefaultSubset: blue\nSubsets: {blue: {}}",
        }
    )
    plan = plan_connection(state, "api", "dc1", rng())
    assert plan.target == Target("api-next", "blue", "dc2")
    assert plan.backend.resolver is not None
    assert plan.backend.resolver.name == "api-next"


def test_redirect_to_a_subset_of_its_own_service() -> None:
    state = traffic({"service-resolver/api": "Redirect: {Service: api, ServiceSubset: v2}\n" + VERSIONS})
    assert plan_connection(state, "api", "dc1", rng()).target == Target("api", "v2", "dc1")


INSTANCES = (
    instance("a1", meta={"version": "v1"}, tags=("stable",)),
    instance("a2", meta={"version": "v2"}, tags=("canary",)),
    instance("a3", meta={"version": "v2"}, health="warning"),
    instance("a4", meta={"version": "v1"}, node_meta={"zone": "east"}),
)


@pytest.mark.parametrize(
    ("subsets", "subset", "expected"),
    [
        ("{v1: {Filter: 'Service.Meta.version == v1'}}", "v1", {"a1", "a4"}),
        ("{v2: {Filter: 'Service.Meta.version == v2'}}", "v2", {"a2", "a3"}),
        ("{v2: {Filter: 'Service.Meta.version == v2', OnlyPassing: true}}", "v2", {"a2"}),
        ("{c: {Filter: 'canary in Service.Tags'}}", "c", {"a2"}),
        ("{s: {Filter: 'stable not in Service.Tags'}}", "s", {"a2", "a3", "a4"}),
        ("{e: {Filter: 'Node.Meta.zone == east'}}", "e", {"a4"}),
        ("{m: {Filter: 'Service.Meta.version matches \"^v[12]$\" and Service.Meta.version != v1'}}", "m", {"a2", "a3"}),
        ("{all: {}}", "all", {"a1", "a2", "a3", "a4"}),
        ("{none: {Filter: 'Service.Meta.version == v9'}}", "none", set()),
    ],
)
def test_subset_filters_select_instances_by_their_consul_entry(subsets: str, subset: str, expected: set[str]) -> None:
    members = endpoints_for_target(Target("api", subset, "dc1"), INSTANCES, resolver(f"Subsets: {subsets}"))
    assert {e.instance_id for e in members} == expected


def test_a_new_endpoint_set_is_filtered_afresh() -> None:
    v1 = resolver(VERSIONS)
    first = endpoints_for_target(Target("api", "v1", "dc1"), INSTANCES, v1)
    grown = (*INSTANCES, instance("a5", meta={"version": "v1"}))
    again = endpoints_for_target(Target("api", "v1", "dc1"), grown, v1)
    assert [e.instance_id for e in again] == [*(e.instance_id for e in first), "a5"]
    assert endpoints_for_target(Target("api", "v1", "dc1"), list(grown), v1) == again


def test_a_replaced_endpoint_set_replaces_its_remembered_selection() -> None:
    from mesh.routing import subsets

    v1 = resolver(VERSIONS)
    target = Target("api-replaced", "v1", "dc1")
    kept_before = len(subsets._selections)
    for n in range(50):  # fifty answers from Consul for the same service: one entry, the latest
        latest = (*INSTANCES, instance(f"n{n}", meta={"version": "v1"}))
        endpoints_for_target(target, latest, v1)
    assert len(subsets._selections) <= kept_before + 1
    held = [entry for entry in subsets._selections.values() if entry[0] is latest]
    assert len(held) == 1


def test_no_subset_means_every_instance_warning_ones_included() -> None:
    assert endpoints_for_target(Target("api", None, "dc1"), INSTANCES, None) == INSTANCES


def test_a_subset_the_resolver_lacks_matches_nothing_rather_than_everything() -> None:
    assert endpoints_for_target(Target("api", "v3", "dc1"), INSTANCES, resolver(VERSIONS)) == ()
    assert endpoints_for_target(Target("api", "v1", "dc1"), INSTANCES, None) == ()


def test_an_unknown_subset_never_reaches_routing_validation_refuses_it() -> None:
    listing = [{"Key": f"{PREFIX}/service-splitter/api", "Value": b"Splits: [{Weight: 100, ServiceSubset: v3}]"}]
    state = next_state(TrafficState(), listing, prefix=PREFIX)
    assert state.splitter("api") is None
    assert plan_connection(state, "api", "dc1", rng()).target == Target("api", None, "dc1")


def test_failover_lists_targets_in_order_for_the_resolved_subset() -> None:
    state = traffic(
        {
            "service-resolver/api": (
                "DefaultSubset: v1\n" + VERSIONS + "\nFailover: {v1: {Datacenters: [dc2, dc3]}, '*': {Service: backup}}"
            ),
        }
    )
    v1 = plan_connection(state, "api", "dc1", rng())
    assert v1.failover == (Target("api", "v1", "dc2"), Target("api", "v1", "dc3"))


def test_wildcard_failover_applies_to_subsets_without_their_own_entry() -> None:
    state = traffic(
        {
            "service-resolver/api": "DefaultSubset: v2\n"
            + VERSIONS
            + "\nFailover: {'*': {Targets: [{Service: backup}]}}",
            "service-resolver/backup": "DefaultSubset: old\nSubsets: {old: {}}",
        }
    )
    assert plan_connection(state, "api", "dc1", rng()).failover == (Target("backup", "old", "dc1"),)


def test_failover_targets_carry_their_own_resolvers_settings() -> None:
    state = traffic(
        {
            "service-resolver/api": "Failover: {'*': {Targets: [{Service: backup}]}}",
            "service-resolver/backup": "ConnectTimeout: 2s\nLoadBalancer: {Policy: random}",
        }
    )
    (backup,) = plan_connection(state, "api", "dc1", rng()).backend.failover
    assert (backup.connect_timeout, backup.load_balancer.policy) == (2.0, "random")
    assert backup.failover == ()
