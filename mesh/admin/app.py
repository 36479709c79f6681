"""Admin endpoints (DESIGN.md section 7).

`/healthz` says the process is alive; `/ready` says it should receive traffic (registered,
certificates valid, first Consul sync applied) and why not; `/v1/status` is what
`meshctl status` shows. Nothing here ever contains a token or a private key.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from mesh.telemetry.metrics import Metrics


class StatusSource(Protocol):
    def not_ready_reasons(self) -> list[str]: ...

    def status(self) -> dict[str, Any]: ...


def make_admin_app(source: StatusSource, metrics: Metrics) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        reasons = source.not_ready_reasons()
        metrics.ready.set(0 if reasons else 1)
        if reasons:
            return web.json_response({"ready": False, "reasons": reasons}, status=503)
        return web.json_response({"ready": True})

    async def prometheus(_: web.Request) -> web.Response:
        source.not_ready_reasons()  # keeps the readiness gauge current for scrapes
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    async def status(_: web.Request) -> web.Response:
        return web.json_response(source.status())

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/v1/status", status)
    return app
