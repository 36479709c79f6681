"""A bound on the client identities that metric labels carry, per destination (pure).

Every distinct caller of a destination adds its own series to each family labelled by source
(connections, closes, requests, the latency histogram's buckets, denials: about 24 series per
caller). Callers are CA-signed identities, so their number is the estate's, not an attacker's,
as long as the signing path holds: this is the guard for when it does not (a compromised CA
or Vault role minting names) and for an estate far larger than one agent's registry should
reflect. The first `limit` sources seen per destination keep their names; later ones are
recorded as OVERFLOW_SOURCE, and each folded observation is counted.
"""

from __future__ import annotations

from collections.abc import Callable

# About 24 series per caller, so at most ~2,400 source-labelled series per destination.
DEFAULT_MAX_SOURCES_PER_DESTINATION = 100
# Not a valid service name (those are letters, digits and dashes), so it never names a real caller.
OVERFLOW_SOURCE = "_other"
# A plaintext or unidentified caller: one value already, whatever the number of callers.
_NO_IDENTITY = ("", "-")


class SourceLabels:
    def __init__(
        self, limit: int = DEFAULT_MAX_SOURCES_PER_DESTINATION, on_overflow: Callable[[str], None] | None = None
    ) -> None:
        self.limit = limit
        self.on_overflow = on_overflow
        self._kept: dict[str, set[str]] = {}
        self.overflowed: dict[str, int] = {}  # folded observations per destination

    def label(self, destination: str, source: str) -> str:
        """The value to record for `source` in `destination`'s series."""
        if source in _NO_IDENTITY:
            return "-"
        if source == OVERFLOW_SOURCE:
            return source
        kept = self._kept.setdefault(destination, set())
        if source in kept:
            return source
        if len(kept) < self.limit:
            kept.add(source)
            return source
        self.overflowed[destination] = self.overflowed.get(destination, 0) + 1
        if self.on_overflow is not None:
            self.on_overflow(destination)
        return OVERFLOW_SOURCE
