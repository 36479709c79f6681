"""Consul's HTTP mux: exact and prefix patterns, its 404 and 405 answers, common headers.

Patterns ending in "/" match a path prefix (the rest is the handler's argument), others
match exactly; the longest match wins, as in Go's http.ServeMux.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from mesh.devstack.consul.acl import PermissionDenied
from mesh.devstack.consul.call import Call, Handler, ServerContext
from mesh.devstack.consul.responses import HTTPError, empty_response, text_response


@dataclass(frozen=True)
class Route:
    pattern: str
    methods: tuple[str, ...]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, pattern: str, methods: Iterable[str], handler: Handler) -> None:
        self._routes.append(Route(pattern, tuple(methods), handler))

    def resolve(self, path: str) -> tuple[Route, str] | None:
        best: tuple[Route, str] | None = None
        for route in self._routes:
            if route.pattern == path:
                return route, ""
            prefix_match = route.pattern.endswith("/") and path.startswith(route.pattern)
            if prefix_match and (best is None or len(route.pattern) > len(best[0].pattern)):
                best = (route, path[len(route.pattern) :])
        return best

    def handler(
        self, ctx: Callable[[], ServerContext], acl_policy: Callable[[], str]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def dispatch(request: web.Request) -> web.StreamResponse:
            common = {"X-Consul-Default-ACL-Policy": acl_policy()}
            found = self.resolve(request.path)
            if found is None:
                text = (
                    "Invalid URL path: not a recognized HTTP API endpoint\n"
                    if "/v1/" in request.path
                    else "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"
                )
                return text_response(404, text)
            route, arg = found
            allow = ",".join(("OPTIONS", *route.methods))
            if request.method == "OPTIONS":
                return empty_response(200, {**common, "Allow": allow})
            if request.method not in route.methods:
                return text_response(405, f"method {request.method} not allowed", {**common, "Allow": allow})
            try:
                response = await route.handler(Call(request, ctx(), arg))
            except HTTPError as exc:
                return text_response(exc.status, exc.text, {**common, **exc.headers})
            except PermissionDenied as exc:
                return text_response(403, str(exc), common)
            for key, value in common.items():
                response.headers.setdefault(key, value)
            return response

        return dispatch
