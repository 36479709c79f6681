"""Load balancing over a target's endpoints: Consul's five policies as pure state machines.

balancer = make_balancer(backend.load_balancer, rng)      # or Balancers(rng).get(upstream, backend)
key = request_hash(policies, request).key                 # hash-based policies only
first, *fallbacks = balancer.order(endpoints, key, limit=3)
"""

from __future__ import annotations

import random

from mesh.routing.balancing.base import Balancer
from mesh.routing.balancing.hashing import HashDecision, SetCookie, connection_hash, request_hash, stable_hash
from mesh.routing.balancing.least_request import LeastRequest
from mesh.routing.balancing.maglev import Maglev
from mesh.routing.balancing.ring_hash import RingHash
from mesh.routing.balancing.round_robin import RoundRobin
from mesh.routing.balancing.weighted_random import WeightedRandom
from mesh.routing.plan import Backend
from mesh.traffic.model import LoadBalancer
from mesh.traffic.model.resolver import (
    POLICY_LEAST_REQUEST,
    POLICY_MAGLEV,
    POLICY_RANDOM,
    POLICY_RING_HASH,
)
from mesh.traffic.resolution import Target

__all__ = [
    "Balancer",
    "Balancers",
    "HashDecision",
    "LeastRequest",
    "Maglev",
    "RingHash",
    "RoundRobin",
    "SetCookie",
    "WeightedRandom",
    "connection_hash",
    "make_balancer",
    "request_hash",
    "stable_hash",
]


def make_balancer(config: LoadBalancer, rng: random.Random) -> Balancer:
    """A fresh balancer for a resolver's LoadBalancer (round_robin when the policy is unknown)."""
    if config.policy == POLICY_RANDOM:
        return WeightedRandom(rng)
    if config.policy == POLICY_LEAST_REQUEST:
        choices = config.least_request_config.choice_count if config.least_request_config else None
        return LeastRequest(rng, choices)
    if config.policy == POLICY_RING_HASH:
        return RingHash(rng, config.ring_hash_config)
    if config.policy == POLICY_MAGLEV:
        return Maglev(rng)
    return RoundRobin(rng)


class Balancers:
    """The balancers of one proxy, one per (upstream, target): state (round-robin position,
    in-flight counts, rings) must persist across requests, and must restart when the resolver's
    LoadBalancer changes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._by_target: dict[tuple[str, Target], tuple[LoadBalancer, Balancer]] = {}

    def get(self, upstream: str, backend: Backend) -> Balancer:
        key = (upstream, backend.target)
        known = self._by_target.get(key)
        if known is not None and (known[0] is backend.load_balancer or known[0] == backend.load_balancer):
            return known[1]
        balancer = make_balancer(backend.load_balancer, self.rng)
        self._by_target[key] = (backend.load_balancer, balancer)
        return balancer

    def __len__(self) -> int:
        return len(self._by_target)
