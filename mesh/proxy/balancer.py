"""Endpoint order for one connection (pure): weighted round robin with a rotating start."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from mesh.snapshot.endpoints import Endpoint


class RoundRobin:
    """Smooth weighted round robin (nginx's): over a cycle each endpoint is picked in
    proportion to its weight, without bursts; the order of the rest is the fallback list."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}
        self._tick = itertools.count()

    def order(self, endpoints: Sequence[Endpoint]) -> list[Endpoint]:
        if not endpoints:
            return []
        total = sum(e.weight for e in endpoints)
        best: Endpoint | None = None
        keys = {e.key for e in endpoints}
        for key in [k for k in self._current if k not in keys]:
            del self._current[key]
        for e in endpoints:
            cur = self._current.get(e.key, 0) + e.weight
            self._current[e.key] = cur
            if best is None or cur > self._current[best.key]:
                best = e
        assert best is not None
        self._current[best.key] -= total
        i = endpoints.index(best)
        return [*endpoints[i:], *endpoints[:i]]
