"""The shutdown sequence on SIGTERM: leave Consul first, then stop accepting, then drain.

1. Stop the registration heartbeat (so it cannot register this host again), then deregister:
   peers' endpoint watches drop this host and they stop choosing it.
2. Keep serving while that news reaches them: a request a peer routed here just before it
   learned is served, not refused. The grace ends when no new inbound connection or request
   has arrived for QUIET_PERIOD (peers have moved on; at once on an idle host), or after
   DEREGISTRATION_GRACE at the latest.
3. The data plane stops accepting (inbound and upstream listeners) and drains: idle keep-alive
   connections close now, busy ones after their current response; everything still open at the
   deadline is cancelled (the builtin plane), or Envoy's listeners are drained and Envoy stopped.

The whole sequence fits in DRAIN_DEADLINE; the unit's TimeoutStopSec leaves room above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from agent.planes import DataPlane
from agent.sdnotify import Notifier
from mesh.consul.registrar import Registrar
from mesh.errors import MeshError
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("agent.shutdown")

DRAIN_DEADLINE = 10.0
# Long enough for peers' blocking queries to return the deregistration and their snapshots to
# swap (milliseconds on a LAN; a loaded Consul takes longer), short against the deadline.
DEREGISTRATION_GRACE = 1.0
QUIET_PERIOD = 0.25
DEREGISTRATION_TIMEOUT = 5.0


@dataclass
class ShutdownParts:
    """What exists to be shut down; anything startup did not reach yet is None."""

    notifier: Notifier
    registrar: Registrar | None = None
    heartbeat: asyncio.Task[None] | None = None
    plane: DataPlane | None = None
    # A number that grows with every inbound connection and request (for the quiet period).
    inbound_activity: Callable[[], float] = lambda: 0.0


async def shut_down(parts: ShutdownParts, *, deadline: float = DRAIN_DEADLINE) -> None:
    started = time.monotonic()
    parts.notifier.stopping("deregistering from Consul, then draining")
    log.info("shutting down: deregistering, then draining", deadline=deadline)
    if parts.heartbeat is not None:
        await cancelled(parts.heartbeat)
    if await _deregister(parts.registrar):
        await _until_quiet(parts.inbound_activity)
    parts.notifier.status("draining open connections")
    if parts.plane is not None:
        await parts.plane.stop_accepting()
        await parts.plane.drain(max(0.0, deadline - (time.monotonic() - started)))
    log.info("drained", seconds=round(time.monotonic() - started, 2))


def inbound_activity(metrics: Metrics) -> float:
    """Inbound connections and requests so far, from their counters (what the quiet period watches)."""
    total = 0.0
    for counter in (metrics.inbound_connections, metrics.requests):
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("direction", "inbound") == "inbound":
                    total += sample.value
    return total


async def _deregister(registrar: Registrar | None) -> bool:
    """True when peers are being told (deregistered); False when there was nothing to tell or
    Consul could not be told (peers then find out when the liveness TTL expires)."""
    if registrar is None:
        return False
    was_registered = registrar.registered
    try:
        async with asyncio.timeout(DEREGISTRATION_TIMEOUT):
            await registrar.deregister_all()
    except (MeshError, TimeoutError) as exc:
        log.warning("deregistration failed; the liveness TTL check will expire", error=str(exc))
        return False
    return was_registered


async def _until_quiet(activity: Callable[[], float]) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEREGISTRATION_GRACE
    seen, quiet_since = activity(), loop.time()
    while loop.time() < give_up:
        await asyncio.sleep(QUIET_PERIOD / 5)
        now, value = loop.time(), activity()
        if value != seen:
            seen, quiet_since = value, now
        elif now - quiet_since >= QUIET_PERIOD:
            return


async def cancelled(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it to finish; this task's own cancellation still propagates."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError
