"""What ring hash and Maglev share: slots owned by endpoints, built once per endpoint set."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.routing.balancing.base import Balancer
from mesh.snapshot.endpoints import Endpoint


def _identity(endpoints: Sequence[Endpoint]) -> tuple[tuple[str, int], ...]:
    return tuple((e.key, e.weight) for e in endpoints)


class OwnedSlots:
    """Slots in a fixed order (a ring's points, a Maglev table's entries), each owned by one of
    `endpoints` (by index). A key lands on one slot; its fallbacks are the next distinct owners in
    slot order, as Envoy walks both."""

    def __init__(self, endpoints: Sequence[Endpoint], owners: Sequence[int]) -> None:
        self.endpoints = tuple(endpoints)
        self.owners = owners
        self._identity = _identity(endpoints)

    def built_from(self, endpoints: Sequence[Endpoint]) -> bool:
        """Whether these slots serve `endpoints` (same keys and weights, in the same order)."""
        return endpoints is self.endpoints or _identity(endpoints) == self._identity

    def start(self, key: int) -> int:
        """The slot `key` lands on."""
        return key % len(self.owners)

    def walk(self, key: int, limit: int) -> list[Endpoint]:
        """The owner of `key`'s slot, then the next distinct owners in slot order, up to `limit`."""
        owners = self.owners
        size = len(owners)
        start = self.start(key)
        seen: list[int] = []
        for step in range(size):
            owner = owners[(start + step) % size]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == limit:
                    break
        return [self.endpoints[o] for o in seen]


class SlotBalancer(Balancer):
    """A hash-based policy over OwnedSlots; a request without a hash key picks a random slot."""

    def order(
        self, endpoints: Sequence[Endpoint], hash_key: int | None = None, *, limit: int | None = None
    ) -> list[Endpoint]:
        if not endpoints:
            return []
        key = hash_key if hash_key is not None else self.rng.getrandbits(64)
        return self._slots_for(endpoints).walk(key, len(endpoints) if limit is None else limit)

    def _slots_for(self, endpoints: Sequence[Endpoint]) -> OwnedSlots:
        """The slots for `endpoints`, rebuilt only when the endpoint set (or a weight) changed."""
        raise NotImplementedError
