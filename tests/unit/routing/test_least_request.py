"""Least request: power of N choices over requests in flight."""

from collections import Counter

import pytest

from mesh.routing import LeastRequest
from tests.unit.routing.world import instance, rng


def test_with_two_endpoints_and_two_choices_the_less_loaded_always_wins() -> None:
    balancer = LeastRequest(rng())
    busy, idle = instance("busy"), instance("idle")
    for _ in range(3):
        balancer.begin(busy)
    assert {balancer.order((busy, idle))[0].instance_id for _ in range(50)} == {"idle"}


def test_finished_requests_stop_counting() -> None:
    balancer = LeastRequest(rng())
    a, b = instance("a"), instance("b")
    balancer.begin(a)
    balancer.begin(b)
    balancer.begin(b)
    balancer.end(b)
    balancer.end(b)
    assert balancer.active(b) == 0
    assert balancer.order((a, b))[0] == b


def test_load_is_spread_when_requests_pile_up() -> None:
    balancer = LeastRequest(rng(), choice_count=2)
    eps = tuple(instance(n) for n in "abcd")
    for _ in range(400):
        balancer.begin(balancer.order(eps)[0])
    loads = [balancer.active(e) for e in eps]
    # Power of two choices keeps the spread to a few requests; random choice would drift by tens.
    assert max(loads) - min(loads) <= 4


def test_weights_are_honoured_when_idle() -> None:
    balancer = LeastRequest(rng(), choice_count=2)
    eps = (instance("a", weight=1), instance("b", weight=4))
    picks = Counter(balancer.order(eps)[0].instance_id for _ in range(5_000))
    assert picks["b"] / 5_000 > 0.75


def test_a_loaded_heavy_endpoint_counts_load_per_unit_of_weight() -> None:
    balancer = LeastRequest(rng(), choice_count=2)
    light, heavy = instance("light", weight=1), instance("heavy", weight=4)
    for _ in range(2):
        balancer.begin(heavy)  # (2 + 1) / 4 < (0 + 1) / 1
    assert balancer.order((light, heavy))[0] == heavy
    for _ in range(4):
        balancer.begin(heavy)  # (6 + 1) / 4 > 1
    assert balancer.order((light, heavy))[0] == light


@pytest.mark.parametrize("count", [2, 3, 5])
def test_fallbacks_list_every_other_endpoint_least_loaded_first(count: int) -> None:
    balancer = LeastRequest(rng(), choice_count=count)
    eps = tuple(instance(n) for n in "abcde")
    for position, e in enumerate(eps):
        for _ in range(position):
            balancer.begin(e)
    ordered = balancer.order(eps)
    rest = ordered[1:]
    assert len({e.instance_id for e in ordered}) == 5
    assert [balancer.active(e) for e in rest] == sorted(balancer.active(e) for e in rest)
