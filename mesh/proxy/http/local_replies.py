"""Responses the proxy answers itself: refusals, protocol errors, upstream failures (pure).

Each carries the reason in a header so an operator can tell a mesh refusal from the app's
own answer of the same status: `x-mesh-denied` for an authorization refusal (like Envoy's
RBAC 403, but saying which rule), `x-mesh-error` for everything else. `x-mesh-reason` names
the cause in a fixed vocabulary a program can test (the access log's flag, dashed: e.g.
`request-timeout`, `max-concurrent-requests`, `rate-limited`, `fault-abort`, `no-endpoints`),
like Envoy's response flags. The body is a short line of text. Reasons come from our code
or the intention table; anything that could make an invalid field value is replaced.
"""

from __future__ import annotations

from http import HTTPStatus

from mesh.http import HTTP_11, Headers, ResponseHead, encode_response_head
from mesh.proxy.http.flags import Flag

DENIED_HEADER = b"x-mesh-denied"
ERROR_HEADER = b"x-mesh-error"
REASON_HEADER = b"x-mesh-reason"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_REASON = 200


def local_reply(
    status: int, reason: str, *, denied: bool = False, close: bool, head_only: bool = False, flag: Flag | None = None
) -> bytes:
    """A complete response: status line, reason headers, text body (omitted for HEAD)."""
    phrase = _phrase(status)
    body = f"{status} {phrase}\n".encode()
    fields = [(DENIED_HEADER if denied else ERROR_HEADER, _field_value(reason))]
    if flag is not None:
        fields.append((REASON_HEADER, flag.reason_token))
    fields += [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    if close:
        fields.append((b"connection", b"close"))
    head = encode_response_head(ResponseHead(HTTP_11, status, phrase.encode(), Headers(fields)))
    return head if head_only else head + body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _field_value(reason: str) -> bytes:
    text = "".join(c if " " <= c <= "~" else "?" for c in reason[:MAX_REASON]).strip()
    return text.encode("ascii") or b"-"
