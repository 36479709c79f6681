"""Splitting: weights in hundredths, one draw per request or connection, nested splitters."""

from __future__ import annotations

from collections import Counter

import pytest

from mesh.routing import plan_connection, plan_request
from tests.unit.routing.world import request, rng, traffic

DRAWS = 10_000
SUBSETS = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"


def shares(state_docs: dict[str, str], *, draws: int = DRAWS, seed: int = 1) -> dict[str, float]:
    state = traffic(state_docs)
    r = rng(seed)
    picks = Counter(str(plan_connection(state, "api", "dc1", r).target) for _ in range(draws))
    return {target: 100 * n / draws for target, n in picks.items()}


def test_an_80_20_split_divides_connections_within_tolerance() -> None:
    got = shares(
        {
            "service-resolver/api": SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 80, ServiceSubset: v1}, {Weight: 20, ServiceSubset: v2}]",
        }
    )
    assert got["api/v1@dc1"] == pytest.approx(80, abs=1.5)
    assert got["api/v2@dc1"] == pytest.approx(20, abs=1.5)


def test_weights_in_hundredths_are_honoured() -> None:
    got = shares(
        {
            "service-resolver/api": SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 99.5, ServiceSubset: v1}, {Weight: 0.5, ServiceSubset: v2}]",
        },
        draws=40_000,
    )
    assert got["api/v2@dc1"] == pytest.approx(0.5, abs=0.15)


def test_requests_split_too_and_the_plan_says_which_split_and_its_alternatives() -> None:
    state = traffic(
        {
            "service-resolver/api": SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 90, ServiceSubset: v1}, {Weight: 10, ServiceSubset: v2}]",
        }
    )
    plans = [plan_request(state, "api", "dc1", request(), rng(seed)) for seed in range(200)]
    v2 = next(p for p in plans if p.target.subset == "v2")
    assert v2.split_index == 1
    assert [(str(b.target), b.weight) for b in v2.alternatives] == [("api/v1@dc1", 90.0)]
    assert v2.backend.weight == 10.0


def test_the_same_seed_gives_the_same_choices() -> None:
    docs = {
        "service-resolver/api": SUBSETS,
        "service-splitter/api": "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v2}]",
    }
    assert shares(docs, draws=100, seed=3) == shares(docs, draws=100, seed=3)


def test_a_split_to_another_service_continues_into_its_splitter() -> None:
    got = shares(
        {
            "service-splitter/api": "Splits: [{Weight: 50}, {Weight: 50, Service: billing}]",
            "service-splitter/billing": (
                "Splits: [{Weight: 60, ServiceSubset: blue}, {Weight: 40, ServiceSubset: green}]"
            ),
            "service-resolver/billing": "Subsets: {blue: {}, green: {}}",
        },
        draws=20_000,
    )
    assert got["api@dc1"] == pytest.approx(50, abs=1.5)
    assert got["billing/blue@dc1"] == pytest.approx(30, abs=1.5)
    assert got["billing/green@dc1"] == pytest.approx(20, abs=1.5)


def test_nested_leaves_carry_the_product_of_weights_and_their_split_path() -> None:
    state = traffic(
        {
            "service-splitter/api": "Splits: [{Weight: 50}, {Weight: 50, Service: billing}]",
            "service-splitter/billing": (
                "Splits: [{Weight: 60, ServiceSubset: blue}, {Weight: 40, ServiceSubset: green}]"
            ),
            "service-resolver/billing": "Subsets: {blue: {}, green: {}}",
        }
    )
    plan = plan_connection(state, "api", "dc1", rng())
    leaves = {str(b.target): (b.weight, b.split_path) for b in (plan.backend, *plan.alternatives)}
    assert leaves == {
        "api@dc1": (50.0, (0,)),
        "billing/blue@dc1": (30.0, (1, 0)),
        "billing/green@dc1": (20.0, (1, 1)),
    }


def test_a_split_naming_a_subset_does_not_continue_into_the_other_splitter() -> None:
    state = traffic(
        {
            "service-splitter/api": "Splits: [{Weight: 100, Service: billing, ServiceSubset: blue}]",
            "service-splitter/billing": "Splits: [{Weight: 100, ServiceSubset: green}]",
            "service-resolver/billing": "Subsets: {blue: {}, green: {}}",
        }
    )
    assert str(plan_connection(state, "api", "dc1", rng()).target) == "billing/blue@dc1"


def test_a_split_to_its_own_service_goes_to_the_resolver_not_back_into_the_splitter() -> None:
    state = traffic(
        {
            "service-resolver/api": "DefaultSubset: v1\n" + SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 100}]",
        }
    )
    assert str(plan_connection(state, "api", "dc1", rng()).target) == "api/v1@dc1"


def test_a_route_to_a_subset_skips_the_splitter_and_a_route_without_one_uses_it() -> None:
    state = traffic(
        {
            "service-resolver/api": SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 100, ServiceSubset: v1}]",
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathPrefix: /v2}}, Destination: {ServiceSubset: v2}},"
                " {Match: {HTTP: {PathPrefix: /}}, Destination: {}}]"
            ),
        }
    )
    assert str(plan_request(state, "api", "dc1", request("/v2/x"), rng()).target) == "api/v2@dc1"
    assert str(plan_request(state, "api", "dc1", request("/x"), rng()).target) == "api/v1@dc1"


def test_split_header_edits_come_before_the_routes_so_the_route_wins_a_conflicting_set() -> None:
    state = traffic(
        {
            "service-resolver/api": SUBSETS,
            "service-splitter/api": "Splits: [{Weight: 100, ServiceSubset: v1, RequestHeaders: {Set: {x-who: split}}}]",
            "service-router/api": "Routes: [{Destination: {RequestHeaders: {Set: {x-who: route}}}}]",
        }
    )
    plan = plan_request(state, "api", "dc1", request(), rng())
    assert [m.set for m in plan.request_headers] == [(("x-who", "split"),), (("x-who", "route"),)]
