"""Ring hash (ketama-style consistent hashing), sized and weighted as Envoy sizes it."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

from mesh.routing.balancing.hashing import stable_hash
from mesh.routing.balancing.slots import OwnedSlots, SlotBalancer
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.model import RingHashConfig

DEFAULT_MINIMUM_RING_SIZE = 1024
DEFAULT_MAXIMUM_RING_SIZE = 8 * 1024 * 1024
# Envoy builds 8M entries in C++ in milliseconds; here each entry is a Python-level hash, so the
# ring is capped lower to keep a rebuild (on an endpoint-set change) well under a second on the
# event loop. 128k entries still give a heavily skewed weight pair (1:100) a fine-grained share.
RING_ENTRIES_CAP = 1 << 17


class _Ring(OwnedSlots):
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
        super().__init__(endpoints, [o for _, o in points])

    def start(self, key: int) -> int:
        """The first point at or after `key`, clockwise."""
        return bisect.bisect_left(self.hashes, key)


class RingHash(SlotBalancer):
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

    @property
    def size(self) -> int:
        return len(self._ring.hashes) if self._ring is not None else 0

    def _slots_for(self, endpoints: Sequence[Endpoint]) -> OwnedSlots:
        if self._ring is None or not self._ring.built_from(endpoints):
            self._ring = _Ring(endpoints, self.minimum, self.maximum)
        return self._ring
