"""Smooth weighted round robin."""

from collections import Counter

from mesh.routing import RoundRobin
from tests.unit.routing.world import instance


def test_equal_weights_alternate() -> None:
    rr = RoundRobin()
    eps = (instance("a"), instance("b"), instance("c"))
    assert [rr.order(eps)[0].instance_id for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_weights_are_honoured_exactly_over_a_cycle() -> None:
    rr = RoundRobin()
    eps = (instance("a", weight=3), instance("b", weight=1))
    picks = Counter(rr.order(eps)[0].instance_id for _ in range(400))
    assert picks == {"a": 300, "b": 100}


def test_heavier_endpoints_are_interleaved_not_bursted() -> None:
    rr = RoundRobin()
    eps = (instance("a", weight=2), instance("b", weight=1))
    assert [rr.order(eps)[0].instance_id for _ in range(6)] == ["a", "b", "a", "a", "b", "a"]


def test_the_order_lists_every_endpoint_once_for_fallback() -> None:
    eps = (instance("a"), instance("b"), instance("c"))
    ordered = RoundRobin().order(eps)
    assert sorted(e.instance_id for e in ordered) == ["a", "b", "c"]
    assert len(RoundRobin().order(eps, limit=2)) == 2


def test_a_removed_endpoint_is_forgotten() -> None:
    rr = RoundRobin()
    rr.order((instance("a"), instance("b")))
    assert [rr.order((instance("b"),))[0].instance_id for _ in range(3)] == ["b", "b", "b"]
