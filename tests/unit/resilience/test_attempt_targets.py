"""Where attempts go: health-aware splitting, failover first, retries to other endpoints and splits,
panic routing when only ejected endpoints are left."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mesh.resilience import choose_attempt
from mesh.routing import EndpointsOf, Target, available_backend, plan_connection, plan_request
from mesh.snapshot.endpoints import Endpoint
from tests.unit.routing.world import instance, request, rng, traffic

SUBSETS = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}\n"
SPLIT = "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 30, ServiceSubset: v2}, {Weight: 20, ServiceSubset: v3}]"
THREE_SUBSETS = (
    "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'},"
    " v3: {Filter: 'Service.Meta.version == v3'}}"
)
DOCS = {
    "service-defaults/api": "Protocol: http",
    "service-resolver/api": THREE_SUBSETS,
    "service-splitter/api": SPLIT,
}


def v(name: str, version: str, datacenter: str = "dc1") -> Endpoint:
    return instance(name, meta={"version": version}, datacenter=datacenter)


def only(*endpoints: Endpoint) -> EndpointsOf:
    def endpoints_of(target: Target) -> Sequence[Endpoint]:
        return tuple(e for e in endpoints if e.datacenter == target.datacenter)

    return endpoints_of


def subset_counts(endpoints_of: EndpointsOf, n: int = 4000) -> Counter[str]:
    state, draw = traffic(DOCS), rng(11)
    counts: Counter[str] = Counter()
    for _ in range(n):
        plan = plan_request(state, "api", "dc1", request(), draw)
        backend, _ = available_backend(plan, endpoints_of, rng=draw)
        counts[backend.target.subset or ""] += 1
    return counts


def test_a_split_with_no_healthy_endpoint_gives_its_weight_to_the_others_in_proportion() -> None:
    counts = subset_counts(only(v("a", "v1"), v("c", "v3")))  # v2 (30%) has none
    assert set(counts) == {"v1", "v3"}
    share_v1 = counts["v1"] / 4000
    assert 0.68 <= share_v1 <= 0.75  # 50 / (50 + 20) = 71.4%


def test_the_split_resumes_once_the_subset_has_endpoints_again() -> None:
    counts = subset_counts(only(v("a", "v1"), v("b", "v2"), v("c", "v3")))
    assert 0.27 <= counts["v2"] / 4000 <= 0.33


def test_the_resolvers_failover_comes_before_the_other_splits() -> None:
    docs = {**DOCS, "service-resolver/api": THREE_SUBSETS + "\nFailover: {v2: {Datacenters: [dc2]}}"}
    state, draw = traffic(docs), rng(3)
    endpoints_of = only(v("a", "v1"), v("r", "v2", datacenter="dc2"))
    for _ in range(200):
        plan = plan_request(state, "api", "dc1", request(), draw)
        if plan.target.subset == "v2":
            backend, members = available_backend(plan, endpoints_of, rng=draw)
            assert (backend.target.datacenter, [e.instance_id for e in members]) == ("dc2", ["r"])


def test_without_an_rng_the_heaviest_remaining_split_is_taken() -> None:
    plan = plan_request(traffic(DOCS), "api", "dc1", request(), rng(1))
    empty_first = plan.with_backend(next(b for b in (plan.backend, *plan.alternatives) if b.target.subset == "v1"))
    backend, _ = available_backend(empty_first, only(v("b", "v2"), v("c", "v3")))
    assert backend.target.subset == "v2"


def test_ejected_endpoints_are_skipped_and_a_split_of_only_ejected_ones_is_skipped_too() -> None:
    plan = plan_request(traffic(DOCS), "api", "dc1", request(), rng(1))
    v1 = plan.with_backend(next(b for b in (plan.backend, *plan.alternatives) if b.target.subset == "v1"))
    endpoints_of = only(v("a", "v1"), v("a2", "v1"), v("b", "v2"))
    chosen = choose_attempt(v1, endpoints_of, ejected=lambda e: e.instance_id == "a", rng=rng())
    assert [e.instance_id for e in chosen.endpoints] == ["a2"]
    assert chosen.population == {e.key for e in (v("a", "v1"), v("a2", "v1"))}
    chosen = choose_attempt(v1, endpoints_of, ejected=lambda e: e.instance_id in ("a", "a2"), rng=rng())
    assert (chosen.plan.target.subset, chosen.panic) == ("v2", False)


def test_a_retry_goes_to_an_endpoint_not_tried_yet_then_to_another_split() -> None:
    plan = plan_request(traffic(DOCS), "api", "dc1", request(), rng(1))
    v1 = plan.with_backend(next(b for b in (plan.backend, *plan.alternatives) if b.target.subset == "v1"))
    a, a2, b = v("a", "v1"), v("a2", "v1"), v("b", "v2")
    endpoints_of = only(a, a2, b)
    never = lambda e: False  # noqa: E731
    assert [e.instance_id for e in choose_attempt(v1, endpoints_of, ejected=never, tried=[a.key]).endpoints] == ["a2"]
    moved = choose_attempt(v1, endpoints_of, ejected=never, tried=[a.key, a2.key], rng=rng())
    assert (moved.plan.target.subset, [e.instance_id for e in moved.endpoints]) == ("v2", ["b"])


def test_when_every_endpoint_was_tried_the_planned_split_is_asked_again() -> None:
    plan = plan_connection(traffic({"service-resolver/api": SUBSETS + "DefaultSubset: v1"}), "api", "dc1", rng())
    only_one = v("a", "v1")
    again = choose_attempt(plan, only(only_one), ejected=lambda e: False, tried=[only_one.key])
    assert [e.instance_id for e in again.endpoints] == ["a"]


def test_when_every_endpoint_is_ejected_they_are_used_anyway() -> None:
    plan = plan_connection(traffic({}), "api", "dc1", rng())
    panic = choose_attempt(plan, only(v("a", "v1"), v("b", "v1")), ejected=lambda e: True)
    assert (len(panic.endpoints), panic.panic) == (2, True)


def test_nothing_healthy_anywhere_leaves_no_endpoints() -> None:
    plan = plan_connection(traffic({}), "api", "dc1", rng())
    assert choose_attempt(plan, only(), ejected=lambda e: False).endpoints == ()
