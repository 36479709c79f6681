"""Failover: the first failover target with endpoints takes over from an empty subset."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.routing import EndpointsOf, Target, available_backend, plan_connection
from mesh.snapshot.endpoints import Endpoint
from tests.unit.routing.world import instance, rng, traffic

RESOLVER = (
    "DefaultSubset: v1\n"
    "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}\n"
    "Failover: {v1: {Targets: [{ServiceSubset: v2}, {Datacenter: dc2}]}}"
)


def lookup(by_place: dict[tuple[str, str | None], tuple[Endpoint, ...]]) -> EndpointsOf:
    def endpoints_of(target: Target) -> Sequence[Endpoint]:
        return by_place.get((target.service, target.datacenter), ())

    return endpoints_of


def test_the_planned_subset_is_used_while_it_has_endpoints() -> None:
    plan = plan_connection(traffic({"service-resolver/api": RESOLVER}), "api", "dc1", rng())
    eps = (instance("a", meta={"version": "v1"}), instance("b", meta={"version": "v2"}))
    backend, members = available_backend(plan, lookup({("api", "dc1"): eps}))
    assert backend.target == Target("api", "v1", "dc1")
    assert [e.instance_id for e in members] == ["a"]


def test_an_empty_subset_fails_over_in_the_resolvers_order() -> None:
    plan = plan_connection(traffic({"service-resolver/api": RESOLVER}), "api", "dc1", rng())
    only_v2 = (instance("b", meta={"version": "v2"}),)
    backend, members = available_backend(plan, lookup({("api", "dc1"): only_v2}))
    assert backend.target == Target("api", "v2", "dc1")
    remote = (instance("r", meta={"version": "v1"}, datacenter="dc2"),)
    backend, members = available_backend(plan, lookup({("api", "dc2"): remote}))
    assert (backend.target, [e.instance_id for e in members]) == (Target("api", "v1", "dc2"), ["r"])


def test_nothing_anywhere_leaves_the_planned_backend_with_no_endpoints() -> None:
    plan = plan_connection(traffic({"service-resolver/api": RESOLVER}), "api", "dc1", rng())
    assert available_backend(plan, lookup({})) == (plan.backend, ())
