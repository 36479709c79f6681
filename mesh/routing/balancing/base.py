"""What every load-balancing policy offers the proxy (pure state machines, one per target)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mesh.snapshot.endpoints import Endpoint


class Balancer:
    """Orders endpoints for one request or connection: the first is the choice, the rest are
    distinct fallbacks for retries and failed dials, best first.

    `hash_key` (from `request_hash` or `connection_hash`) only matters to hash-based policies;
    None makes them choose at random, as Envoy does. `limit` caps the list (the proxy rarely
    needs more than a few), which spares hash-based policies a walk around the whole ring.
    The proxy calls `begin`/`end` around each request (least_request counts them; the others
    ignore them).
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        raise NotImplementedError

    def begin(self, endpoint: Endpoint) -> None:
        """A request (or connection) to `endpoint` started."""

    def end(self, endpoint: Endpoint) -> None:
        """A request (or connection) to `endpoint` finished, however it ended."""


def weighted_shuffle(endpoints: Sequence[Endpoint], rng: random.Random) -> list[Endpoint]:
    """A random order where each position is drawn in proportion to weight among those left
    (Efraimidis-Spirakis: sort by u ** (1 / weight)); its first element is a weighted choice."""
    keyed = [(rng.random() ** (1.0 / max(e.weight, 1)), i) for i, e in enumerate(endpoints)]
    keyed.sort(reverse=True)
    return [endpoints[i] for _, i in keyed]
