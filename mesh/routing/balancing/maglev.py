"""Maglev (Google's consistent hashing with a lookup table), weighted as Envoy weights it."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mesh.routing.balancing.hashing import stable_hash
from mesh.routing.balancing.slots import OwnedSlots, SlotBalancer
from mesh.snapshot.endpoints import Endpoint

DEFAULT_TABLE_SIZE = 65537  # prime, as the permutation scheme needs


class _Table(OwnedSlots):
    def __init__(self, endpoints: Sequence[Endpoint], size: int) -> None:
        """Endpoints take turns claiming their next preferred free slot; an endpoint claims a
        turn each time its accumulated weight reaches the heaviest one's, so slots end up in
        proportion to weight (Envoy's weighted Maglev)."""
        table: list[int] = [-1] * size
        offsets = [stable_hash(f"{e.key}#offset") % size for e in endpoints]
        skips = [stable_hash(f"{e.key}#skip") % (size - 1) + 1 for e in endpoints]
        weights = [max(e.weight, 1) for e in endpoints]
        heaviest = max(weights)
        credit = [0] * len(endpoints)
        tried = [0] * len(endpoints)
        filled = 0
        while filled < size:
            for owner in range(len(endpoints)):
                credit[owner] += weights[owner]
                if credit[owner] < heaviest:
                    continue
                credit[owner] -= heaviest
                offset, skip, nth = offsets[owner], skips[owner], tried[owner]
                slot = (offset + skip * nth) % size
                while table[slot] >= 0:
                    nth += 1
                    slot = (offset + skip * nth) % size
                table[slot] = owner
                tried[owner] = nth + 1
                filled += 1
                if filled == size:
                    break
        super().__init__(endpoints, table)


class Maglev(SlotBalancer):
    """A key goes to the owner of slot `key % size`. Removing one of N endpoints remaps about
    1/N of the keys (those it owned, plus a little churn Maglev trades for even load). The table
    is rebuilt only when the endpoint set (or a weight) changes. `table_size` must be prime."""

    def __init__(self, rng: random.Random, table_size: int = DEFAULT_TABLE_SIZE) -> None:
        super().__init__(rng)
        self.table_size = table_size
        self._table: _Table | None = None

    def _slots_for(self, endpoints: Sequence[Endpoint]) -> OwnedSlots:
        if self._table is None or not self._table.built_from(endpoints):
            self._table = _Table(endpoints, self.table_size)
        return self._table
