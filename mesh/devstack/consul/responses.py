"""Responses as Consul writes them: JSON (pretty, as in -dev mode) or a plain-text error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class HTTPError(Exception):
    """An error answer: Consul writes the status and the reason as plain text."""

    def __init__(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.text = text
        self.headers = dict(headers or {})
        super().__init__(f"{status}: {text}")


def encode_json(obj: Any) -> str:
    """Go's json.MarshalIndent(obj, "", "    ") plus newline, which a dev agent serves.

    Go escapes <, > and & inside strings and writes other text as UTF-8.
    """
    text = json.dumps(obj, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def json_response(obj: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=encode_json(obj).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )


def text_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8", headers=headers)


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=dict(headers or {}))
