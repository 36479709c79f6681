"""Whether the Consul agent answers at all, shared by every caller of one client.

When Consul stops answering (connection refused, reset, timed out), every watch and the
registration heartbeat would otherwise retry on its own schedule: the request rate to a dead
Consul would grow with the number of watches, and each would notice Consul's return only at
its next backoff step (up to its cap). Instead, while Consul is unreachable one probe asks
whether it is back, paced by capped backoff, and every other caller waits for the answer:
one request per probe interval however many watches there are, and every caller resumes
within one probe interval of Consul's return.

Only transport failures count: an HTTP answer, even a 5xx ("no path to datacenter" for one
cross-datacenter watch), proves Consul is there, and that caller backs off on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from mesh.consul.pacing import Backoff
from mesh.errors import MeshError

log = structlog.get_logger("mesh.consul.reachability")

# Consul's return is noticed within this long; also the probe rate's floor (one per PROBE_CAP/2).
PROBE_CAP = 3.0
PROBE_BACKOFF = Backoff(base=0.5, cap=PROBE_CAP)


class Reachability:
    def __init__(self, *, backoff: Backoff = PROBE_BACKOFF) -> None:
        self._backoff = backoff
        self._up = asyncio.Event()
        self._up.set()
        self._down = asyncio.Event()
        self._listeners: list[Callable[[bool], None]] = []
        # Wall-clock time of the first failure of the current outage (for status and logs).
        self.unreachable_since: float | None = None
        self.last_error: str | None = None
        self.probes = 0

    @property
    def reachable(self) -> bool:
        return self._up.is_set()

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        """`listener(reachable)` is called on every transition, in the event loop."""
        self._listeners.append(listener)

    # -- outcomes, reported by the client ---------------------------------------------------
    def answered(self) -> None:
        if self._up.is_set():
            return
        down_for = time.time() - (self.unreachable_since or time.time())
        log.info("consul reachable again", after_seconds=round(down_for, 1), probes=self.probes)
        self.unreachable_since = None
        self._down.clear()
        self._up.set()
        self._notify(True)

    def failed(self, error: str) -> None:
        self.last_error = error
        if not self._up.is_set():
            return
        self.unreachable_since = time.time()
        self.probes = 0
        log.warning("consul unreachable; callers wait for the probe", error=error)
        self._up.clear()
        self._down.set()
        self._notify(False)

    def _notify(self, reachable: bool) -> None:
        for listener in self._listeners:
            listener(reachable)

    # -- waiting ------------------------------------------------------------------------------
    async def until_reachable(self) -> None:
        """Return as soon as Consul answers again (at once when it does now)."""
        await self._up.wait()

    async def run(self, probe: Callable[[], Awaitable[object]]) -> None:
        """Probe while Consul is unreachable; idle otherwise. `probe` reports its own outcome
        through the client (which calls `answered`/`failed`); its errors are expected here."""
        while True:
            await self._down.wait()
            failures = 0
            while not self.reachable:
                failures += 1
                try:
                    # Another caller's answer ends the wait early (a request that was in flight).
                    async with asyncio.timeout(self._backoff.delay(failures)):
                        await self._up.wait()
                except TimeoutError:
                    pass
                if self.reachable:
                    break
                self.probes += 1
                try:
                    await probe()
                except MeshError:
                    continue
