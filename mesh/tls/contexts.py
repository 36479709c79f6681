"""SSL contexts for the inbound listener and outbound dials.

Python's ssl module loads certificates only from files, so a leaf is written to disk
(0600, in the state directory, where it also survives restarts) before a context is built.
Contexts are immutable once built; rotation builds new ones and swaps them in, so open
connections keep theirs and new handshakes get the new certificate.
"""

from __future__ import annotations

import ssl

ALPN = ["http/1.1"]
# TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all of that already).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _base(ctx: ssl.SSLContext, bundle_pem: str) -> ssl.SSLContext:
    # 1.2 at least; OpenSSL picks the highest version both sides speak, so 1.3 when it can.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=bundle_pem)
    ctx.set_alpn_protocols(ALPN)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return ctx


def server_context(bundle_pem: str, cert_file: str | None = None, key_file: str | None = None) -> ssl.SSLContext:
    """A server context requiring a client certificate chained to the bundle.

    The listener's base context has no certificate of its own: the SNI callback switches
    each handshake to the context of the service it names. OpenSSL takes the verify mode
    from the base context and the trust store from the switched one, so both carry both.
    """
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), bundle_pem)
    # No session tickets: a resumed session skips chain verification, and every connection
    # must be checked against the bundle in force now (a root removed after a rotation).
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_context(bundle_pem: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """A client context presenting a local service's leaf; the server's identity is checked
    against its SPIFFE ID after the handshake (there is no DNS name to check)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    _base(ctx, bundle_pem)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
