"""Admin endpoints (DESIGN.md section 7).

`/healthz` says the process is alive; `/ready` says it should receive traffic (registered,
certificates valid, first Consul sync applied) and why not, or that it serves but degraded
(`warnings`: fail-static while Consul is unreachable); `/v1/status` is what `meshctl status`
shows; it is built and encoded in a worker thread, and can be narrowed by query
(mesh/admin/status_query.py). Nothing here ever contains a token or a private key.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from mesh.admin.status_query import StatusQuery, StatusQueryError, encode
from mesh.telemetry.metrics import Metrics


class ReadinessView(Protocol):
    @property
    def reasons(self) -> tuple[str, ...]: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...


class StatusSource(Protocol):
    def readiness(self) -> ReadinessView: ...

    def status(self) -> dict[str, Any]: ...


def make_admin_app(source: StatusSource, metrics: Metrics) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        state = source.readiness()
        metrics.ready.set(0 if state.reasons else 1)
        body: dict[str, Any] = {"ready": not state.reasons}
        if state.reasons:
            body["reasons"] = list(state.reasons)
        if state.warnings:
            body["warnings"] = list(state.warnings)
        return web.json_response(body, status=503 if state.reasons else 200)

    async def prometheus(_: web.Request) -> web.Response:
        source.readiness()  # keeps the readiness gauges current for scrapes
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    async def status(request: web.Request) -> web.Response:
        try:
            query = StatusQuery.parse(request.query.items())
        except StatusQueryError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        # The small part on the loop (it reads the agent's live state); the endpoints, built from
        # the immutable snapshot, and the JSON encoding in a thread: at 150 destinations they
        # took tens of milliseconds, a stall of every connection on the host.
        document = source.status()
        body = await asyncio.to_thread(encode, document, query)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/v1/status", status)
    return app
