"""A blocking-query watch loop that emits UpdateEvents and keeps going through outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from mesh.consul.pacing import Backoff, TokenBucket, next_index
from mesh.consul.reachability import Reachability
from mesh.errors import BackendUnavailable, MeshError

log = structlog.get_logger("mesh.consul.watch")

# Short enough that a silently dead connection is noticed within a minute: the watching
# session's read timeout is this wait plus Consul's jitter (wait/16) plus a margin
# (mesh/consul/timeouts.py).
DEFAULT_WAIT_SECONDS = 55.0

Fetch = Callable[[int, str], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """One answer (or failure) of one watch; `correlation_id` says which watch."""

    correlation_id: str
    result: Any = None
    error: MeshError | None = None
    index: int = 0


class BlockingWatch:
    """Runs one blocking query forever: index rules, rate limit, capped backoff.

    `fetch(index, wait)` performs the query and returns (X-Consul-Index, data), raising the
    project's own errors. Results are emitted only when the index moves (or on the first
    answer); a failure is emitted once per outage so the last good data stays in force.

    With a `reachability`, a failure while Consul does not answer at all waits for Consul to
    answer again (one shared probe paces that) instead of retrying on this watch's own
    schedule; other failures back off quadratically up to the cap.

    Whatever `emit` raises is logged with its traceback and the watch goes on (the answer is
    emitted again with the next one, even at the same index): an exception out of here would
    end the agent's task group, every agent at once when the data is in Consul (issue 12).
    """

    def __init__(
        self,
        correlation_id: str,
        fetch: Fetch,
        emit: Callable[[UpdateEvent], None],
        *,
        wait: float = DEFAULT_WAIT_SECONDS,
        bucket: TokenBucket | None = None,
        backoff: Backoff | None = None,
        reachability: Reachability | None = None,
    ) -> None:
        self.correlation_id = correlation_id
        self._fetch = fetch
        self._emit = emit
        self._wait = f"{int(wait * 1000)}ms"
        self._bucket = bucket or TokenBucket(rate=2.0, burst=5.0)
        self._backoff = backoff or Backoff()
        self._reachability = reachability
        self.index = 0
        self.failures = 0
        self.requests = 0

    async def run(self) -> None:
        delivered = False
        while True:
            await asyncio.sleep(self._bucket.delay(time.monotonic()))
            self.requests += 1
            try:
                returned, data = await self._fetch(self.index, self._wait)
            except MeshError as exc:
                self.failures += 1
                delivered = False  # the first answer after an outage always clears the error
                if isinstance(exc, BackendUnavailable):
                    # Consul may come back restarted with lower indexes; a blocking query at
                    # our old index would then hang for the whole wait. Start from a fresh view.
                    self.index = 0
                if self.failures == 1:
                    level = "warning" if isinstance(exc, BackendUnavailable) else "error"
                    getattr(log, level)("watch failed", watch=self.correlation_id, error=str(exc))
                    self._deliver(UpdateEvent(self.correlation_id, error=exc, index=self.index))
                if self._reachability is not None and not self._reachability.reachable:
                    await self._reachability.until_reachable()
                else:
                    await asyncio.sleep(self._backoff.delay(self.failures))
                continue
            if self.failures:
                log.info("watch recovered", watch=self.correlation_id, after_failures=self.failures)
                self.failures = 0
            if not delivered or returned != self.index:
                delivered = self._deliver(UpdateEvent(self.correlation_id, result=data, index=returned))
            self.index = next_index(self.index, returned)

    def _deliver(self, event: UpdateEvent) -> bool:
        """Hand `event` to `emit`; False when that failed (a bug of the sink, logged)."""
        try:
            self._emit(event)
        except Exception:
            log.exception("applying a watch answer failed; the watch goes on", watch=self.correlation_id)
            return False
        return True
