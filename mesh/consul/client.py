"""The agent's Consul client: py-consul's asyncio client, with errors mapped at the edge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
import consul
import consul.aio
from consul.callback import CB

from mesh.config.model import ConsulSettings
from mesh.consul.reachability import Reachability
from mesh.consul.timeouts import WatchTimeouts
from mesh.consul.watch_session import WatchingConsul
from mesh.errors import ConsulRefused, ConsulUnavailable, MeshError

T = TypeVar("T")

# ok: any 2xx; refused: 4xx; unavailable: Consul answered 5xx; unreachable: no answer at all.
Outcome = Literal["ok", "refused", "unavailable", "unreachable"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "refused", "unavailable", "unreachable")

# For the calls that answer at once (the `raw` session: registration, heartbeats, discovery): a
# whole-request timeout, generous for a local agent and still shorter than the liveness TTL, so a
# hung Consul fails the heartbeat rather than holding it. Blocking queries are on the `watching`
# session, timed by socket reads sized from each query's wait (mesh/consul/timeouts.py).
_HTTP_TIMEOUT = 10.0
_PROBE_TIMEOUT = 2.0
# A blocking query holds its connection for up to its wait, so watches have an HTTP session of
# their own with room for one connection each (a host with 4,096 distinct destinations is far
# past anything the agent is meant for). aiohttp's default of 100 connections per session, with
# everything on one session, made the agent fall over at about 97 destinations: registration,
# heartbeats and the remaining watches queued behind the blocking ones, timed out, and counted
# as Consul being unreachable.
WATCH_CONNECTIONS = 4096


def translate(what: str, exc: Exception) -> tuple[MeshError, Outcome] | None:
    """The project's error for a py-consul, aiohttp or socket error, and what it says about
    Consul; None for anything else (a bug: let it through)."""
    if isinstance(exc, consul.ACLPermissionDenied | consul.ACLDisabled):
        return ConsulRefused(f"{what}: permission denied ({_first_line(exc)})", 403), "refused"
    if isinstance(exc, consul.NotFound):
        return ConsulRefused(f"{what}: not found ({_first_line(exc)})", 404), "refused"
    if isinstance(exc, consul.Timeout):
        # A 599 answer: something in between timed out, but something answered.
        return ConsulUnavailable(f"{what}: timed out"), "unavailable"
    if isinstance(exc, consul.ConsulException):
        text = _first_line(exc)
        status = int(text[:3]) if text[:3].isdigit() else 500
        if status >= 500:
            return ConsulUnavailable(f"{what}: Consul answered {text}"), "unavailable"
        return ConsulRefused(f"{what}: Consul refused: {text}", status), "refused"
    if isinstance(exc, TimeoutError | aiohttp.ClientError | OSError):
        message = f"{what}: Consul unreachable ({type(exc).__name__}: {exc})"
        return ConsulUnavailable(message), "unreachable"
    return None


@contextmanager
def consul_errors(what: str) -> Iterator[None]:
    """Translate py-consul, aiohttp and socket errors into the project's own."""
    try:
        yield
    except Exception as exc:
        mapped = translate(what, exc)
        if mapped is None:
            raise
        raise mapped[0] from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


class ConsulClient:
    """Two HTTP sessions to the local Consul agent: `raw` for the calls that answer at once
    (registration, heartbeats, discovery, writes) and `watching` for blocking queries, so that
    no call ever waits for a connection behind a watch (see WATCH_CONNECTIONS). The watching
    session times requests by connect and socket-read timeouts sized from each query's wait
    (`watch_timeouts`), so a dead Consul is noticed within wait + wait/16 + a margin.

    Every call's outcome feeds `reachability` (see mesh/consul/reachability.py) and the
    optional `observe(outcome)` hook (the agent's request metric).
    """

    def __init__(
        self,
        settings: ConsulSettings,
        token: str | None,
        *,
        observe: Callable[[Outcome], None] | None = None,
        reachability: Reachability | None = None,
        watch_timeouts: WatchTimeouts | None = None,
    ) -> None:
        url = urlsplit(settings.address)
        scheme = url.scheme or "http"
        self._session_settings: dict[str, Any] = {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or (8501 if scheme == "https" else 8500),
            "scheme": scheme,
            "token": token,
            "verify": settings.ca_file or True,
        }
        self.raw = consul.aio.Consul(**self._session_settings, connections_timeout=_HTTP_TIMEOUT)
        self._watch_timeouts = watch_timeouts or WatchTimeouts()
        self._watching: WatchingConsul | None = None
        self.address = settings.address
        self.reachability = reachability or Reachability()
        self._observe = observe

    @property
    def watching(self) -> WatchingConsul:
        """The session for blocking queries (made on first use, inside the event loop)."""
        if self._watching is None:
            self._watching = WatchingConsul(
                **self._session_settings, connections_limit=WATCH_CONNECTIONS, timeouts=self._watch_timeouts
            )
        return self._watching

    async def close(self) -> None:
        await self.raw.close()
        if self._watching is not None:
            await self._watching.close()

    async def call(self, what: str, awaitable: Awaitable[T]) -> T:
        try:
            result = await awaitable
        except Exception as exc:
            mapped = translate(what, exc)
            if mapped is None:
                raise
            error, outcome = mapped
            self._record(outcome, str(error))
            raise error from None
        self._record("ok", "")
        return result

    def _record(self, outcome: Outcome, error: str) -> None:
        if self._observe is not None:
            self._observe(outcome)
        if outcome == "unreachable":
            self.reachability.failed(error)
        else:
            self.reachability.answered()

    async def get_indexed(
        self, what: str, path: str, params: list[tuple[str, Any]], *, blocking: bool = False
    ) -> tuple[int, Any]:
        """A raw GET through py-consul's HTTP client, for endpoints its API lacks an index on;
        `blocking` for a blocking query (on the `watching` session)."""
        session = self.watching if blocking else self.raw
        headers = session.prepare_headers()
        request = session.http.get(CB.json(index=True), path, params=params, headers=headers)
        index, data = await self.call(what, request)
        return int(index), data

    async def probe(self) -> None:
        """The cheapest request that proves Consul answers (needs no ACL token). Short timeout: a
        black-holed address must not hold the probe longer than its own pacing."""
        request = self.raw.http.get(CB.json(), "/v1/status/leader", connections_timeout=_PROBE_TIMEOUT)
        await self.call("consul probe", request)

    @staticmethod
    def blocking_params(index: int, wait: str, dc: str | None = None) -> list[tuple[str, Any]]:
        params: list[tuple[str, Any]] = []
        if index:
            params += [("index", index), ("wait", wait)]
        if dc:
            params.append(("dc", dc))
        return params
