"""A route plan's edits applied to a request or response (pure): header modifiers, prefix rewrite.

Header modifiers follow Envoy as Consul configures it: per modifier, `Remove` first, then
`Add` (appends), then `Set` (replaces, so a Set wins over an Add of the same name).
Modifiers never touch the fields the proxy owns: framing and connection management
(re-applied per hop anyway) and Host (Envoy refuses to edit it through these lists).
Values are literal: Envoy's `%VARIABLE%` substitutions are not interpreted.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh.http import HOP_BY_HOP, Headers
from mesh.proxy.http.normalize import PreparedRequest
from mesh.routing import PrefixRewrite, SetCookie
from mesh.traffic.model import HeaderModifiers

_PROXY_OWNED = HOP_BY_HOP | {b"content-length", b"host"}


def apply_header_modifiers(headers: Headers, modifiers: Sequence[HeaderModifiers]) -> Headers:
    for modifier in modifiers:
        for name in modifier.remove:
            key = _name(name)
            if key is not None:
                headers = headers.without(key)
        for name, value in modifier.add:
            key = _name(name)
            if key is not None:
                headers = headers.with_added(key, value.encode("latin-1"))
        for name, value in modifier.set:
            key = _name(name)
            if key is not None:
                headers = headers.with_set(key, value.encode("latin-1"))
    return headers


def rewritten_target(request: PreparedRequest, rewrite: PrefixRewrite | None) -> bytes:
    """The request-target after a route's PrefixRewrite (on the normalized path; the query is kept)."""
    if rewrite is None or request.head.target == b"*":
        return request.head.target
    path = rewrite.apply(request.path.decode("ascii"))
    if not path.startswith("/"):
        path = "/" + path  # `PrefixRewrite: ""` on `/api` leaves an empty path: origin-form needs the slash
    target = path.encode("latin-1")
    return target if request.query is None else target + b"?" + request.query


class ResponseEdits:
    """The edits for a final response: the plan's ResponseHeaders, then a hash-policy cookie."""

    __slots__ = ("_cookie", "_modifiers")

    def __init__(self, modifiers: Sequence[HeaderModifiers], cookie: SetCookie | None) -> None:
        self._modifiers = modifiers
        self._cookie = cookie

    def __call__(self, headers: Headers) -> Headers:
        headers = apply_header_modifiers(headers, self._modifiers)
        if self._cookie is not None:
            headers = headers.with_added(b"set-cookie", self._cookie.header_value().encode("latin-1"))
        return headers


def response_edits(modifiers: Sequence[HeaderModifiers], cookie: SetCookie | None) -> ResponseEdits | None:
    """None when there is nothing to change (the common case costs nothing per response)."""
    return ResponseEdits(modifiers, cookie) if modifiers or cookie is not None else None


def _name(name: str) -> bytes | None:
    key = name.encode("latin-1")
    return None if key.lower() in _PROXY_OWNED else key
