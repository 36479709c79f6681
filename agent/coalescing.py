"""Watch answers applied in batches: everything that arrives in one event-loop turn at once.

Consul answers come from many watches at once (the first sync of dozens of upstreams, an
endpoint flapping in a service many hosts call). Applying each on its own rebuilds the
snapshot, swaps it and runs every reaction (metrics, intention enforcement, new watches,
readiness) once per answer. The coalescer hands `flush` every item that arrived before the
loop got round to it, in arrival order; the caller applies them in turn and reacts once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Collects items and calls `flush(items)` once per event-loop turn that received any."""

    def __init__(self, flush: Callable[[list[T]], None]) -> None:
        self._flush = flush
        self._pending: list[T] = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, item: T) -> None:
        """Queue `item`; the first of a batch schedules the flush (call from the event loop)."""
        self._pending.append(item)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        items, self._pending = self._pending, []
        if items:
            # Items added while `flush` runs form the next batch (scheduled by their `add`).
            self._flush(items)
