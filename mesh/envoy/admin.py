"""The few calls the supervisor makes to Envoy's admin interface (loopback, plain HTTP).

Every call is bounded by REQUEST_TIMEOUT and maps aiohttp's failures to `EnvoyAdminError`, so
that a hung or restarting Envoy costs a poll, not the event loop or the caller's deadline.
"""

from __future__ import annotations

import json
import re
from typing import Final

import aiohttp

from mesh.config.model import HostPort
from mesh.errors import MeshError

REQUEST_TIMEOUT: Final = 2.0
LIVE: Final = "LIVE"


# ^listener\..*\.downstream_cx_active$, URL-encoded.
_ACTIVE_FILTER: Final = "%5Elistener%5C..*%5C.downstream_cx_active%24"
# Per-thread copies of the same gauge (listener.<name>.worker_0.downstream_cx_active): counted once.
_PER_THREAD = re.compile(r"\.(worker_\d+|main_thread)\.downstream_cx_active$")


def _is_listener_total(name: str) -> bool:
    return not name.startswith("listener.admin.") and _PER_THREAD.search(name) is None


class EnvoyAdminError(MeshError):
    """Envoy's admin interface did not answer, or answered something unexpected."""


class EnvoyAdmin:
    """A client of one Envoy's admin interface; `close()` when done."""

    def __init__(self, address: HostPort) -> None:
        host = f"[{address.host}]" if ":" in address.host else address.host
        self.base = f"http://{host}:{address.port}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env off: an HTTP(S)_PROXY in the agent's environment must not route loopback calls.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT), trust_env=False)
        return self._session

    async def _call(self, method: str, path: str) -> tuple[int, str]:
        try:
            async with self._client().request(method, self.base + path) as response:
                return response.status, await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise EnvoyAdminError(f"{method} {path}: {type(exc).__name__}: {exc}") from None

    async def server_state(self) -> str:
        """What `/ready` says: LIVE, PRE_INITIALIZING, INITIALIZING or DRAINING."""
        _status, body = await self._call("GET", "/ready")
        return body.strip()

    async def live(self) -> bool:
        """Envoy's `/ready` answers 200 LIVE; False (never raising) when it does not, or cannot answer."""
        try:
            status, body = await self._call("GET", "/ready")
        except EnvoyAdminError:
            return False
        return status == 200 and body.strip() == LIVE

    async def drain_listeners(self) -> None:
        """Start Envoy's graceful drain of every listener: clients are told to go now (the drain
        strategy is immediate), listeners close after --drain-time-s; the process keeps running."""
        status, body = await self._call("POST", "/drain_listeners?graceful")
        if status != 200:
            raise EnvoyAdminError(f"POST /drain_listeners?graceful: {status} {body.strip()[:200]}")

    async def total_connections(self) -> int:
        """Open downstream connections over every listener, the admin interface's own not counted.

        Summed from each listener's `downstream_cx_active` gauge, which moves with every connection;
        `server.total_connections` would be simpler but is refreshed only at each stats flush (5 s).
        """
        status, body = await self._call("GET", "/stats?format=json&filter=" + _ACTIVE_FILTER)
        if status != 200:
            raise EnvoyAdminError(f"GET /stats: {status} {body.strip()[:200]}")
        try:
            stats = json.loads(body)["stats"]
            return sum(int(s["value"]) for s in stats if _is_listener_total(str(s["name"])))
        except (ValueError, TypeError, KeyError):
            raise EnvoyAdminError(f"GET /stats: unexpected answer {body.strip()[:200]!r}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
