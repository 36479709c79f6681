"""Serving Vault's own HTTP verb, `LIST`, with aiohttp.

Vault clients (hvac, the Vault CLI, the Go API) list with the non-standard method `LIST`.
aiohttp's C parser (llhttp) refuses methods it does not know, so this listener's connections
use aiohttp's pure-Python request parser instead, which accepts any RFC 9110 method token.
The swap is per connection, in a `RequestHandler` subclass: nothing global changes, and the
Consul stand-in and the agent keep the fast parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_parser import HttpRequestParserPy
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class _AnyMethodRequestHandler(RequestHandler):
    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._parser = HttpRequestParserPy(
            self,
            loop,
            kwargs.get("read_bufsize", 2**16),
            max_line_size=self.max_line_size,
            max_field_size=self.max_field_size,
            max_headers=self.max_headers,
            payload_exception=RequestPayloadError,
            auto_decompress=kwargs.get("auto_decompress", True),
        )


class _AnyMethodServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _AnyMethodRequestHandler(self, loop=self._loop, **self._kwargs)


def make_runner(handler: Handler) -> web.ServerRunner:
    """A runner for a low-level handler whose connections accept any HTTP method."""
    return web.ServerRunner(_AnyMethodServer(handler, access_log=None), handle_signals=False, shutdown_timeout=0.5)
