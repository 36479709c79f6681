"""Least request: the less loaded of a few endpoints drawn at random (power of N choices)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mesh.routing.balancing.base import Balancer, weighted_shuffle
from mesh.snapshot.endpoints import Endpoint

DEFAULT_CHOICE_COUNT = 2


class LeastRequest(Balancer):
    """Draws `choice_count` distinct endpoints (weighted) and takes the one with the fewest
    requests in flight per unit of weight, `(active + 1) / weight`, which is Envoy's rule for
    unequal weights with its default bias of 1 and plain power-of-two-choices for equal ones.
    Comparing a few random endpoints, not all, keeps agents that share stale load views from
    all piling onto the same least-loaded endpoint. Fallbacks: the rest by the same score.
    """

    def __init__(self, rng: random.Random, choice_count: int | None = None) -> None:
        super().__init__(rng)
        self.choice_count = choice_count or DEFAULT_CHOICE_COUNT
        self._active: dict[str, int] = {}

    def active(self, endpoint: Endpoint) -> int:
        return self._active.get(endpoint.key, 0)

    def begin(self, endpoint: Endpoint) -> None:
        self._active[endpoint.key] = self._active.get(endpoint.key, 0) + 1

    def end(self, endpoint: Endpoint) -> None:
        left = self._active.get(endpoint.key, 0) - 1
        if left > 0:
            self._active[endpoint.key] = left
        else:
            self._active.pop(endpoint.key, None)

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        if len(endpoints) <= 1:
            return list(endpoints)
        drawn = weighted_shuffle(endpoints, self.rng)
        candidates = drawn[: self.choice_count]
        chosen = min(candidates, key=self._score)  # min keeps the first drawn among equals
        rest = sorted((e for e in drawn if e is not chosen), key=self._score)
        ordered = [chosen, *rest]
        return ordered if limit is None else ordered[:limit]

    def _score(self, endpoint: Endpoint) -> float:
        return (self._active.get(endpoint.key, 0) + 1) / max(endpoint.weight, 1)
