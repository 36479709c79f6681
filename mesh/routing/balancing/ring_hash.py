"""Ring hash (ketama-style consistent hashing), sized and weighted as Envoy sizes it."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

from mesh.routing.balancing.base import Balancer
from mesh.routing.balancing.hashing import stable_hash
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.model import RingHashConfig

DEFAULT_MINIMUM_RING_SIZE = 1024
DEFAULT_MAXIMUM_RING_SIZE = 8 * 1024 * 1024
# Envoy builds 8M entries in C++ in milliseconds; here each entry is a Python-level hash, so the
# ring is capped lower to keep a rebuild (on an endpoint-set change) well under a second on the
# event loop. 128k entries still give a heavily skewed weight pair (1:100) a fine-grained share.
RING_ENTRIES_CAP = 1 << 17


class _Ring:
    def __init__(self, endpoints: Sequence[Endpoint], minimum: int, maximum: int) -> None:
        total = sum(max(e.weight, 1) for e in endpoints)
        shares = [max(e.weight, 1) / total for e in endpoints]
        smallest = min(shares)
        # Enough entries that the lightest endpoint gets at least minimum * its share, whole.
        scale = min(math.ceil(smallest * minimum) / smallest, float(maximum))
        points: list[tuple[int, int]] = []
        placed = 0.0
        wanted = 0.0
        for owner, (endpoint, share) in enumerate(zip(endpoints, shares, strict=True)):
            wanted += scale * share
            replica = 0
            while placed < wanted:
                points.append((stable_hash(f"{endpoint.key}_{replica}"), owner))
                replica += 1
                placed += 1
        points.sort()
        self.hashes = [h for h, _ in points]
        self.owners = [o for _, o in points]
        self.endpoints = tuple(endpoints)

    def walk(self, key: int, limit: int) -> list[Endpoint]:
        """Endpoints met clockwise from `key`, each once, up to `limit`."""
        start = bisect.bisect_left(self.hashes, key)
        size = len(self.hashes)
        seen: list[int] = []
        for step in range(size):
            owner = self.owners[(start + step) % size]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == limit:
                    break
        return [self.endpoints[o] for o in seen]


class RingHash(Balancer):
    """Each endpoint owns points on a 64-bit ring in proportion to its weight; a key goes to
    the owner of the first point at or after it. Removing an endpoint moves only the keys it
    owned. Fallbacks are the next distinct owners clockwise. The ring is rebuilt only when the
    endpoint set (or a weight) changes."""

    def __init__(self, rng: random.Random, config: RingHashConfig | None = None) -> None:
        super().__init__(rng)
        minimum = (config.minimum_ring_size if config else None) or DEFAULT_MINIMUM_RING_SIZE
        maximum = (config.maximum_ring_size if config else None) or DEFAULT_MAXIMUM_RING_SIZE
        self.maximum = min(maximum, RING_ENTRIES_CAP)
        self.minimum = min(minimum, self.maximum)
        self._ring: _Ring | None = None
        self._built_for: tuple[tuple[str, int], ...] = ()

    @property
    def size(self) -> int:
        return len(self._ring.hashes) if self._ring is not None else 0

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        if not endpoints:
            return []
        identity = tuple((e.key, e.weight) for e in endpoints)
        if self._ring is None or identity != self._built_for:
            self._ring = _Ring(endpoints, self.minimum, self.maximum)
            self._built_for = identity
        key = hash_key if hash_key is not None else self.rng.getrandbits(64)
        return self._ring.walk(key, len(endpoints) if limit is None else limit)
