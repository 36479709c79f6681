"""x-forwarded-client-cert: set from the verified peer, never taken from the request."""

from __future__ import annotations

import hashlib

from mesh.http import Headers
from mesh.proxy.http.client_cert import with_client_cert, xfcc_value

API = "spiffe://example.consul/ns/default/dc/dc1/svc/api"
WEB = "spiffe://example.consul/ns/default/dc/dc1/svc/web"


def test_the_value_names_us_the_client_and_its_certificate_hash_in_envoys_order() -> None:
    der = b"certificate bytes"
    assert xfcc_value(by=API, uri=WEB, leaf_der=der) == (
        f"By={API};Hash={hashlib.sha256(der).hexdigest()};URI={WEB}".encode()
    )


def test_a_value_with_a_separator_is_quoted() -> None:
    assert xfcc_value(by="a;b", uri='c"d', leaf_der=None) == b'By="a;b";URI="c\\"d"'


def test_every_received_value_is_replaced_by_ours() -> None:
    incoming = Headers(
        [
            (b"X-Forwarded-Client-Cert", b"By=spiffe://evil;URI=spiffe://evil/admin"),
            (b"host", b"api"),
            (b"x-forwarded-client-cert", b"URI=spiffe://evil/other"),
        ]
    )
    out = with_client_cert(incoming, b"By=us;URI=them")
    assert out.get_all(b"x-forwarded-client-cert") == [b"By=us;URI=them"]
    assert out.get(b"host") == b"api"


def test_a_client_without_identity_gets_no_value_and_cannot_supply_one() -> None:
    out = with_client_cert(Headers([(b"x-forwarded-client-cert", b"URI=spiffe://evil")]), None)
    assert b"x-forwarded-client-cert" not in out
