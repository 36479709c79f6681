"""A stoppable, restartable HTTP server on a fixed address: the base of both stand-ins.

Tests use `stop()`/`start()` to simulate an outage: stopping closes the listener and every
open connection (blocking queries included), as a crashed server would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class StandInServer:
    """Owns an aiohttp application and the socket it listens on.

    Subclasses build the application in `make_app()`; it is rebuilt on every start, so a
    subclass decides what state survives a restart by where it keeps it.
    """

    name = "stand-in"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def make_app(self) -> web.Application:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Bind and serve. Port 0 picks a free port once; later starts reuse it."""
        if self._runner is not None:
            return
        if host is not None:
            self.host = host
        if port is not None:
            self.port = port
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server: Any = site._server  # aiohttp keeps the asyncio Server here
            self.port = server.sockets[0].getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        """Close the listener and drop every open connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self.on_stop()
            await runner.cleanup()

    async def on_stop(self) -> None:
        """Hook for subclasses: cancel background tasks before connections are dropped."""
        await asyncio.sleep(0)
