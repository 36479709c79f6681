"""Weighted round robin over endpoints."""

from collections import Counter

from mesh.proxy.balancer import RoundRobin
from mesh.snapshot.endpoints import Endpoint


def ep(name: str, weight: int = 1) -> Endpoint:
    return Endpoint("api", "dc1", name, "10.0.0.1", 20000, name, weight=weight)


def test_equal_weights_alternate() -> None:
    rr = RoundRobin()
    eps = (ep("a"), ep("b"), ep("c"))
    assert [rr.order(eps)[0].node for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_weights_are_honoured_over_a_cycle() -> None:
    rr = RoundRobin()
    eps = (ep("a", 3), ep("b", 1))
    picks = Counter(rr.order(eps)[0].node for _ in range(400))
    assert picks == {"a": 300, "b": 100}


def test_the_order_lists_every_endpoint_for_fallback() -> None:
    eps = (ep("a"), ep("b"), ep("c"))
    assert sorted(e.node for e in RoundRobin().order(eps)) == ["a", "b", "c"]
