"""py-consul's asyncio client for blocking queries, with read timeouts instead of a whole-request one.

py-consul can only give aiohttp a total timeout per session or per request. For blocking queries
that is the wrong tool (mesh/consul/timeouts.py): this client keeps py-consul's whole API
(`health.connect`, `kv.get`, `http.get`) and changes only how a request is timed: a short connect
timeout, and a socket read timeout sized from the request's own `wait`.

It also refuses an answer Consul says is partial: with `X-Consul-Results-Filtered-By-ACLs: true`
the token could not read part of what was asked (instances, keys, intentions), and acting on the
rest would drop upstream instances or configuration documents without a word. The watch fails
instead, naming the permission to grant, and the agent keeps its previous view (fail-static).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import consul
import consul.aio
import consul.base

from mesh.consul.timeouts import WatchTimeouts

FILTERED_BY_ACLS = "X-Consul-Results-Filtered-By-ACLs"
_WHAT_TO_GRANT = (
    ("/v1/health/", "service:read on the service and node:read on its instances' nodes"),
    ("/v1/catalog/", "service:read and node:read"),
    ("/v1/kv/", "key:read on every key under the prefix"),
    ("/v1/connect/intentions", "intention:read (given by service:read) on every destination"),
)


def filtered_by_acls(uri: str) -> str:
    """The refusal for a partial answer to `uri`: what was hidden and which permission shows it."""
    path = uri.split("://", 1)[-1]
    path = path[path.find("/") :].split("?", 1)[0] if "/" in path else path
    grant = next((hint for prefix, hint in _WHAT_TO_GRANT if path.startswith(prefix)), "read permission")
    return (
        f"Consul filtered the answer to {path} by ACLs ({FILTERED_BY_ACLS}): "
        f"the token lacks {grant}; the previous answer is kept"
    )


class _ReadTimedHTTPClient(consul.aio.HTTPClient):  # type: ignore[misc]  # py-consul is untyped
    def __init__(self, *args: Any, timeouts: WatchTimeouts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeouts = timeouts

    async def _request(
        self,
        callback: Any,
        method: str,
        uri: str,
        headers: dict[str, str] | None,
        data: Any = None,
        connections_timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        # `connections_timeout` (a total) is ignored on purpose: nothing here may cut a wait short.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeouts.connect, sock_read=self._timeouts.read_timeout(uri)
        )
        async with self._session.request(method, uri, headers=headers, data=data, timeout=timeout) as resp:
            body = await resp.read() if raw else await resp.text(encoding="utf-8")
        if resp.status == 599:
            raise consul.Timeout
        if resp.headers.get(FILTERED_BY_ACLS, "").lower() == "true":
            raise consul.ACLPermissionDenied(filtered_by_acls(uri))
        return callback(consul.base.Response(resp.status, resp.headers, body))


class WatchingConsul(consul.aio.Consul):  # type: ignore[misc]  # py-consul is untyped
    """A `consul.aio.Consul` whose requests are timed by `timeouts` (see the module docstring)."""

    def __init__(self, *args: Any, timeouts: WatchTimeouts, **kwargs: Any) -> None:
        self._timeouts = timeouts  # read by http_connect, which the base __init__ calls
        super().__init__(*args, **kwargs)

    def http_connect(
        self, host: str, port: int, scheme: str, verify: bool | str = True, cert: Any = None
    ) -> _ReadTimedHTTPClient:
        return _ReadTimedHTTPClient(
            host,
            port,
            scheme,
            loop=self.loop,
            connections_limit=self.connections_limit,
            verify=verify,
            cert=cert,
            timeouts=self._timeouts,
        )
