"""Checks on a TLS peer's leaf beyond chain validation (pure).

OpenSSL has already verified the chain, validity period and signature when these run;
these are the mesh's own rules: one SPIFFE URI SAN naming a service of our trust domain,
on a certificate that is not itself a CA. This is the one place where a peer's certificate
becomes a service name, for callers (the inbound listener, XFCC) and servers (the outbound
dial) alike.

- The namespace must be `default`: the mesh speaks only that one (DESIGN.md section 6), and
  `ns/other/.../svc/web` is another service than `web`, whatever its name says.
- The datacenter may be any: Consul matches intention sources by service name across the
  datacenters of one trust domain (WAN federation), and cross-datacenter upstreams are a
  feature. The trust domain is what bounds it, and it must be ours.
"""

from __future__ import annotations

from cryptography import x509

from mesh.errors import PeerRejected
from mesh.identity import DEFAULT_NAMESPACE, ServiceIdentity


def peer_identity(der: bytes | None, *, trust_domain: str, expect_service: str | None = None) -> ServiceIdentity:
    """The peer's service identity, or PeerRejected with a stable reason token."""
    if not der:
        raise PeerRejected("no_certificate", "the peer presented no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise PeerRejected("unparsable_certificate", str(exc)) from None
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise PeerRejected("leaf_is_ca", "the peer's leaf has CA=true")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if ku.key_cert_sign:
            raise PeerRejected("leaf_can_sign_certificates", "the peer's leaf has keyCertSign")
    except x509.ExtensionNotFound:
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PeerRejected("no_uri_san", "the peer's leaf has no subjectAltName") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise PeerRejected("uri_san_count", f"expected exactly one URI SAN, found {len(uris)}")
    uri = uris[0]
    if not uri.lower().startswith("spiffe://"):
        raise PeerRejected("not_spiffe", f"URI SAN {uri!r} is not a SPIFFE ID")
    try:
        identity = ServiceIdentity.parse(uri)
    except ValueError:
        raise PeerRejected("not_a_service_identity", f"{uri!r} is not a Consul service identity") from None
    if identity.trust_domain != trust_domain.lower():
        raise PeerRejected("wrong_trust_domain", f"{uri!r} is not in trust domain {trust_domain!r}")
    if identity.namespace != DEFAULT_NAMESPACE:
        raise PeerRejected("wrong_namespace", f"{uri!r} is not in namespace {DEFAULT_NAMESPACE!r}")
    if expect_service is not None and identity.service != expect_service:
        raise PeerRejected("wrong_service", f"expected service {expect_service!r}, peer is {identity.service!r}")
    return identity
