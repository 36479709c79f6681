"""A received request made ready for authorization and forwarding (pure).

What authorization sees is exactly what the app will see: the request is rewritten first
(origin-form, hop-by-hop fields removed, path normalized) and the rewritten request is
both the one matched against intentions and routes and the one forwarded.

Path normalization is RFC 3986's, as Consul turns on in Envoy by default (`normalize_path`):
percent-encoded unreserved characters are decoded, other escapes get upper-case hex, and
dot segments are removed, so `/%61dmin`, `/./admin` and `/x/../admin` all become `/admin`
before a `PathPrefix: /admin` permission is matched. As in Consul's defaults, repeated
slashes are kept and an escaped slash (`%2F`) stays escaped. An invalid escape is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mesh.http import (
    DEFAULT_LIMITS,
    Headers,
    HeaderView,
    Limits,
    ProtocolError,
    RequestHead,
    expects_continue,
    is_upgrade,
    keep_alive,
    strip_hop_by_hop,
    to_origin_form,
    upgrade_protocols,
)
from mesh.intentions import RequestFacts

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = b"0123456789abcdefABCDEF"
WEBSOCKET = b"websocket"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request as the mesh handles it: `head` is what is authorized, routed and forwarded."""

    head: RequestHead
    path: bytes  # normalized, without the query
    query: bytes | None
    keep_alive: bool  # the client allows another request on this connection
    expect_continue: bool  # the client waits for `100 Continue` before sending its body
    websocket: bool  # an Upgrade to WebSocket, forwarded as such (other upgrades are dropped)


def prepare_request(head: RequestHead) -> PreparedRequest:
    """Normalize a parsed request; ProtocolError for what the mesh will not forward."""
    if head.method == b"CONNECT":
        # A tunnel to an arbitrary authority is not a request to this service.
        raise ProtocolError(501, "CONNECT is not proxied")
    client_keep_alive = keep_alive(head)
    expect = expects_continue(head)
    # Only WebSocket is passed through. Other upgrades (h2c above all: a second protocol
    # on the connection would carry requests this proxy never authorizes) are dropped,
    # which RFC 9110 7.8 allows: the request is served over HTTP/1.1 as if never asked.
    websocket = is_upgrade(head) and upgrade_protocols(head) == [WEBSOCKET]
    head = to_origin_form(head)
    headers = strip_hop_by_hop(head.headers, keep_upgrade=websocket)
    if expect:
        # Answered by the destination's agent once it authorized the request (the caller's
        # agent forwards it and relays that answer: exchange.py); the app never waits for one.
        headers = headers.without(b"expect")
    target, path, query = head.target, head.target, None
    if target != b"*":
        raw_path, sep, raw_query = target.partition(b"?")
        path = normalize_path(raw_path)
        query = raw_query if sep else None
        target = path if query is None else path + b"?" + query
    head = replace(head, target=target, headers=headers)
    return PreparedRequest(head, path, query, client_keep_alive, expect, websocket)


def with_default_host(headers: Headers, host: str) -> Headers:
    """An HTTP/1.0 request may lack Host; the next hop gets HTTP/1.1, which requires one.

    The destination service's name stands in (Envoy's `default_host_for_http_10`).
    """
    return headers if b"host" in headers else headers.with_set(b"Host", host.encode("ascii"))


def next_hop_refusal(headers: Headers, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why the next hop would refuse a request with `headers` (431), or None when they fit.

    The outbound listener reads the app's head under the same limits the destination agent's
    inbound listener applies, then adds fields of its own (traceparent, x-request-id, a Host
    for HTTP/1.0, a route's RequestHeaders). A head near a limit would pass the first hop and
    be refused by the second, after a connection and a pool slot were spent on it; so the
    outbound listener checks the head as it will send it, and refuses it itself. Counted as
    the head reader counts: field lines, and each line's bytes with its CRLF plus the final one.
    """
    count, most = len(headers), limits.max_header_count
    if count > most:
        return f"with the mesh's own fields the request has {count} header fields (the limit is {most})"
    size, most = headers.wire_size(), limits.max_header_bytes
    if size > most:
        return f"with the mesh's own fields the header section is {size} bytes (the limit is {most})"
    return None


def normalize_path(path: bytes) -> bytes:
    """RFC 3986 6.2.2 normalization of an absolute path (see the module docstring)."""
    if b"%" in path:
        path = _normalize_escapes(path)
    if b"/." in path:
        path = remove_dot_segments(path)
    return path


def remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 5.2.4 for a path starting with '/': `.` and `..` segments resolved."""
    out: list[bytes] = []
    segments = path[1:].split(b"/")
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == b".":
            if i == last:
                out.append(b"")
        elif segment == b"..":
            if out:
                out.pop()
            if i == last:
                out.append(b"")
        else:
            out.append(segment)
    return b"/" + b"/".join(out)


def _normalize_escapes(path: bytes) -> bytes:
    pieces = path.split(b"%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        code = piece[:2]
        if len(code) != 2 or code.translate(None, _HEX):
            raise ProtocolError(400, "invalid percent-encoding in path")
        byte = int(code, 16)
        if byte in _UNRESERVED:
            out.append(bytes((byte,)) + piece[2:])
        else:
            out.append(b"%" + code.upper() + piece[2:])
    return b"".join(out)


def request_facts(request: PreparedRequest) -> RequestFacts:
    """What L7 intentions match on: method, normalized path (no query), headers."""
    head = request.head
    return RequestFacts(head.method.decode("ascii"), request.path.decode("ascii"), HeaderView(head.headers))
