"""Random choice in proportion to weight (Consul's `random` policy)."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.routing.balancing.base import Balancer, weighted_shuffle
from mesh.snapshot.endpoints import Endpoint


class WeightedRandom(Balancer):
    """Fallbacks are drawn the same way among the endpoints left."""

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        ordered = weighted_shuffle(endpoints, self.rng)
        return ordered if limit is None else ordered[:limit]
