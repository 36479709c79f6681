"""What a proxy must change or decide when it forwards a message (RFC 9110 7.6, 7.8, 10.1.1).

Suggested order for a forwarded request, so authorization sees what the app will see:
`to_origin_form` -> `strip_hop_by_hop` -> authorize -> add our own fields ->
`with_framing_headers(headers, outgoing_framing(...))` -> encode.
"""

from __future__ import annotations

from dataclasses import replace

from mesh.http.headers import Headers
from mesh.http.messages import HTTP_11, RequestHead, ResponseHead
from mesh.http.target import TargetForm, parse_target

# RFC 9110 7.6.1 plus the de-facto ones (Keep-Alive, Proxy-Connection) it names.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
# A Connection option may not remove these: a sender must not nominate fields meant for
# every recipient (RFC 9110 7.6.1), and losing Host would change how the app routes a
# request we already authorized.
_NEVER_NOMINATED = frozenset({b"host"})


def strip_hop_by_hop(headers: Headers, *, keep_upgrade: bool = False) -> Headers:
    """Remove the hop-by-hop fields and every field the Connection field names.

    With `keep_upgrade` (forwarding a request that `is_upgrade`, or its 101 answer) the
    Upgrade field stays and Connection is rewritten to just `upgrade`, which is all a
    WebSocket handshake needs end to end (its Sec-WebSocket-* fields are end-to-end).
    """
    drop = set(HOP_BY_HOP)
    drop.update(t for t in headers.tokens(b"connection") if t not in _NEVER_NOMINATED)
    if keep_upgrade and b"upgrade" in headers:
        drop.discard(b"upgrade")
        return headers.without(*drop).with_added(b"Connection", b"upgrade")
    return headers.without(*drop)


def keep_alive(head: RequestHead | ResponseHead) -> bool:
    """Whether the connection may carry another message after this one.

    HTTP/1.1 unless `Connection: close`. HTTP/1.0 never, even with `Connection:
    keep-alive`: RFC 9112 9.3 forbids a proxy to keep a persistent connection with a 1.0
    client, and 1.0 keep-alive through intermediaries is a known source of hangs
    (RFC 9112 C.2.2). The caller also closes after an UntilClose body, after any
    ProtocolError, and after answering a request whose body it did not read.
    """
    return head.version == HTTP_11 and not head.headers.contains_token(b"connection", b"close")


def is_upgrade(head: RequestHead) -> bool:
    """An HTTP/1.1 request asking to switch protocols (Connection: upgrade + Upgrade).

    RFC 9110 7.8: an Upgrade in an HTTP/1.0 request is ignored. Check `upgrade_protocols`
    before forwarding: pass `websocket` through, refuse `h2c` (an h2c upgrade through a
    proxy is a known way to smuggle requests past per-request authorization).
    """
    return (
        head.version == HTTP_11
        and head.headers.contains_token(b"connection", b"upgrade")
        and bool(head.headers.tokens(b"upgrade"))
    )


def upgrade_protocols(head: RequestHead | ResponseHead) -> list[bytes]:
    """The protocols in the Upgrade field, lowercased (`websocket`, `h2c`, ...)."""
    return head.headers.tokens(b"upgrade")


def expects_continue(head: RequestHead) -> bool:
    """True when an HTTP/1.1 client waits for `100 Continue` before sending the body.

    RFC 9110 10.1.1: ignored in HTTP/1.0; other expectations may be ignored. A proxy can
    either forward Expect and relay the upstream's interim 100, or (Envoy's default)
    answer 100 itself once it has decided to forward, and drop Expect upstream. Either
    way authorize first: a denied request gets its final status with no 100, and since
    its body was never read the connection must then be closed, or the unread body
    would be parsed as the next request.
    """
    return head.version == HTTP_11 and head.headers.contains_token(b"expect", b"100-continue")


def to_origin_form(head: RequestHead) -> RequestHead:
    """Rewrite an absolute-form request (`GET http://h/p`) to origin-form with `Host: h`.

    RFC 9112 3.2.2: a server given an absolute-form target must ignore Host and use the
    target's authority. Rewriting before authorization means the proxy and the app can
    never disagree about which host a request is for. Other forms are returned as is.
    """
    target = parse_target(head.method, head.target)
    if target.form is not TargetForm.ABSOLUTE:
        return head
    headers = head.headers.with_set(b"Host", target.authority)
    return replace(head, target=target.origin_form, headers=headers)
