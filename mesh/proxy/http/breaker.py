"""Circuit breaking's moving parts for one upstream pool: connection slots and the line of
requests waiting for one. What to do at each point is mesh.resilience.limits' decision.

A slot freed while requests wait goes to the first in line (it then dials), so the count of
open connections never exceeds MaxConnections, and waiting is first come, first served. The
wait itself is bounded by the request's deadline (the caller's timeout around `acquire`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from mesh.proxy.http.flags import Flag
from mesh.resilience import connection_admission
from mesh.traffic.model import Limits


class Overflowed(Exception):
    """A circuit-breaking limit refused the request; answer 503 naming `limit`."""

    def __init__(self, limit: Flag) -> None:
        self.limit = limit
        super().__init__(limit)


class ConnectionSlots:
    """The open connections of one pool, against the `Limits` in force (set per request)."""

    def __init__(self) -> None:
        self.limits: Limits | None = None
        self.open = 0
        self._line: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def excess(self) -> int:
        """Connections open beyond MaxConnections (after the limit was lowered)."""
        limit = self.limits.max_connections if self.limits is not None else None
        return 0 if limit is None else max(0, self.open - limit)

    async def acquire(self, idle: int, evict_idle: Callable[[], object]) -> None:
        """A slot for a new connection: at once, by closing an idle one, or after waiting in line."""
        admission = connection_admission(
            self.limits, open_connections=self.open, idle_connections=idle, waiting=len(self._line)
        )
        if admission == "overflow":
            raise Overflowed(Flag.MAX_PENDING_REQUESTS)
        if admission == "evict_idle":
            evict_idle()  # its close releases a slot, taken just below
        if admission != "wait":
            self.open += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            await turn  # `release` hands its slot over: `open` is unchanged
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over just as the wait ended: pass it on
            elif turn in self._line:
                self._line.remove(turn)
            raise

    def release(self) -> None:
        """A connection closed (or a reserved dial failed): its slot goes to the first in line."""
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.open = max(0, self.open - 1)
