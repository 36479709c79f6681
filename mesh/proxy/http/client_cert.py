"""`x-forwarded-client-cert` (XFCC): who the mesh authenticated, told to the app (pure).

Envoy's format and Consul's choice for it (`SANITIZE_SET`): the inbound proxy removes any
XFCC the request carried and sets its own from the verified client certificate, so an app
can trust the field and a client can never forge it. Elements (Envoy's order): `By` is
our service's SPIFFE ID, `Hash` the SHA-256 of the client's leaf (DER, hex), `URI` the
client's SPIFFE ID. A plaintext client (permissive mode) has no identity: the field is
removed and none is set.

The outbound listener strips it too: it is a field between the mesh and the app, and an
app's own value must not travel to the next hop (which would replace it anyway).
"""

from __future__ import annotations

import hashlib

from mesh.http import Headers

XFCC = b"x-forwarded-client-cert"
_NEEDS_QUOTES = frozenset(',;="')


def xfcc_value(*, by: str, uri: str, leaf_der: bytes | None) -> bytes:
    """One XFCC element describing the client we authenticated."""
    parts = [("By", by)]
    if leaf_der:
        parts.append(("Hash", hashlib.sha256(leaf_der).hexdigest()))
    parts.append(("URI", uri))
    return ";".join(f"{key}={_quoted(value)}" for key, value in parts).encode()


def with_client_cert(headers: Headers, value: bytes | None) -> Headers:
    """`headers` with every received XFCC removed and ours (when there is one) set."""
    headers = headers.without(XFCC)
    return headers if value is None else headers.with_added(b"x-forwarded-client-cert", value)


def _quoted(value: str) -> str:
    # Envoy quotes a value holding a separator; SPIFFE IDs never do, but the rule costs nothing.
    if _NEEDS_QUOTES.isdisjoint(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
