"""Weighted random choice."""

from collections import Counter

import pytest

from mesh.routing import WeightedRandom
from tests.unit.routing.world import instance, rng


def test_choices_follow_weights() -> None:
    balancer = WeightedRandom(rng())
    eps = (instance("a", weight=1), instance("b", weight=3))
    picks = Counter(balancer.order(eps)[0].instance_id for _ in range(10_000))
    assert picks["b"] / 10_000 == pytest.approx(0.75, abs=0.02)


def test_fallbacks_are_the_other_endpoints_each_once() -> None:
    eps = tuple(instance(n) for n in "abcd")
    ordered = WeightedRandom(rng()).order(eps)
    assert sorted(e.instance_id for e in ordered) == ["a", "b", "c", "d"]
