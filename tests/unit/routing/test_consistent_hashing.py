"""Ring hash and Maglev: a key sticks to an endpoint; removing one endpoint moves only its keys."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from mesh.routing import Balancer, Maglev, RingHash
from mesh.routing.balancing import stable_hash
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic import RingHashConfig
from tests.unit.routing.world import instance, rng

KEYS = [stable_hash(f"user-{n}") for n in range(4_000)]
SMALL_MAGLEV = 5_003  # prime; the default 65537 is exercised once below


def ring() -> Balancer:
    return RingHash(rng())


def maglev() -> Balancer:
    return Maglev(rng(), table_size=SMALL_MAGLEV)


POLICIES = pytest.mark.parametrize("make", [ring, maglev], ids=["ring_hash", "maglev"])


def owners(balancer: Balancer, eps: tuple[Endpoint, ...]) -> list[str]:
    return [balancer.order(eps, key, limit=1)[0].instance_id for key in KEYS]


@POLICIES
def test_the_same_key_always_goes_to_the_same_endpoint(make: Callable[[], Balancer]) -> None:
    eps = tuple(instance(f"e{n}") for n in range(5))
    balancer = make()
    assert owners(balancer, eps) == owners(balancer, eps)
    assert owners(make(), eps) == owners(balancer, eps)  # another agent agrees


@POLICIES
def test_removing_one_of_n_endpoints_remaps_about_one_nth_of_the_keys(make: Callable[[], Balancer]) -> None:
    eps = tuple(instance(f"e{n}") for n in range(8))
    before = owners(make(), eps)
    after = owners(make(), eps[:3] + eps[4:])
    moved = [b for b, a in zip(before, after, strict=True) if b != a]
    assert set(moved) >= {"e3"}
    assert moved.count("e3") == before.count("e3")  # every key of the removed endpoint moves
    # The rest mostly stay. A few more move, as in Envoy: the ring grows the survivors' points
    # to stay above its minimum size, and Maglev's fill order shifts a few slots.
    assert 1 / 8 - 0.03 <= len(moved) / len(KEYS) <= 2 / 8


@POLICIES
def test_keys_spread_by_weight(make: Callable[[], Balancer]) -> None:
    eps = (instance("light", weight=1), instance("heavy", weight=3))
    share = Counter(owners(make(), eps))["heavy"] / len(KEYS)
    assert share == pytest.approx(0.75, abs=0.06)


@POLICIES
def test_fallbacks_are_the_other_endpoints_each_once_and_stable_per_key(make: Callable[[], Balancer]) -> None:
    eps = tuple(instance(f"e{n}") for n in range(5))
    balancer = make()
    ordered = balancer.order(eps, KEYS[0])
    assert sorted(e.instance_id for e in ordered) == [f"e{n}" for n in range(5)]
    assert balancer.order(eps, KEYS[0]) == ordered
    assert balancer.order(eps, KEYS[0], limit=2) == ordered[:2]


@POLICIES
def test_without_a_hash_key_the_choice_is_random(make: Callable[[], Balancer]) -> None:
    eps = tuple(instance(f"e{n}") for n in range(4))
    balancer = make()
    assert len({balancer.order(eps)[0].instance_id for _ in range(200)}) == 4


def test_ring_size_follows_the_minimum_and_the_lightest_weight() -> None:
    balancer = RingHash(rng(), RingHashConfig(minimum_ring_size=64))
    balancer.order((instance("a"), instance("b")), 1)
    assert balancer.size == 64
    balancer.order((instance("a", weight=1), instance("b", weight=9)), 1)
    assert balancer.size == 70  # the lightest (1/10) gets ceil(64/10) = 7 points, the rest in proportion


def test_ring_size_is_capped_by_the_maximum() -> None:
    balancer = RingHash(rng(), RingHashConfig(minimum_ring_size=1024, maximum_ring_size=100))
    balancer.order((instance("a", weight=1), instance("b", weight=50)), 1)
    assert balancer.size == 100


def test_the_ring_is_rebuilt_only_when_the_endpoint_set_changes() -> None:
    balancer = RingHash(rng())
    eps = (instance("a"), instance("b"))
    balancer.order(eps, 1)
    ring_before = balancer._ring
    balancer.order(tuple(eps), 2)
    assert balancer._ring is ring_before
    balancer.order((instance("a"), instance("b"), instance("c")), 2)
    assert balancer._ring is not ring_before


def test_maglev_with_the_default_table_size_is_consistent() -> None:
    eps = tuple(instance(f"e{n}") for n in range(4))
    one, other = Maglev(rng(1)), Maglev(rng(2))
    assert len(one.order(eps, KEYS[0])) == 4
    assert [one.order(eps, k, limit=1)[0] for k in KEYS[:200]] == [other.order(eps, k, limit=1)[0] for k in KEYS[:200]]
