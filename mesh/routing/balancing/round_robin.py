"""Smooth weighted round robin (nginx's): over a cycle each endpoint is picked in proportion to
its weight, interleaved rather than in bursts."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mesh.routing.balancing.base import Balancer
from mesh.snapshot.endpoints import Endpoint


class RoundRobin(Balancer):
    """Each pick adds every endpoint's weight to its running score, takes the highest and
    subtracts the total from it. Fallbacks follow the chosen one in list order."""

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__(rng or random.Random())  # noqa: S311 - load spreading, not security
        self._current: dict[str, int] = {}

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        if not endpoints:
            return []
        keys = {e.key for e in endpoints}
        for gone in [k for k in self._current if k not in keys]:
            del self._current[gone]
        total = 0
        best = 0
        best_score = None
        for position, e in enumerate(endpoints):
            score = self._current.get(e.key, 0) + e.weight
            self._current[e.key] = score
            total += e.weight
            if best_score is None or score > best_score:
                best, best_score = position, score
        self._current[endpoints[best].key] -= total
        ordered = [*endpoints[best:], *endpoints[:best]]
        return ordered if limit is None else ordered[:limit]
