"""A test's own mesh client: a leaf from Vault (or any CA) and a raw mTLS connection to an inbound listener."""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import hvac
from cryptography import x509

from mesh.certs.leaf import build_csr, generate_key, key_pem
from mesh.identity import ServiceIdentity, sni_for
from tests.support.pki import Issued

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.1 at all is deprecated
    TLS_1_1 = ssl.TLSVersion.TLSv1_1


@dataclass
class ClientCert:
    cert_file: str
    key_file: str
    bundle_pem: str


def vault_leaf(vault: hvac.Client, tmp: Path, identity: ServiceIdentity, *, ttl: str = "1h") -> ClientCert:
    key = generate_key()
    resp = vault.secrets.pki.sign_certificate(
        name="mesh-leaf",
        csr=build_csr(key, identity),
        common_name=identity.service,
        extra_params={"uri_sans": identity.spiffe_id, "ttl": ttl},
        mount_point="pki_int",
    )
    data = resp["data"]
    cert_file, key_file = tmp / f"{identity.service}-client.crt", tmp / f"{identity.service}-client.key"
    cert_file.write_text(data["certificate"] + "\n" + "\n".join(data["ca_chain"]) + "\n")
    key_file.write_text(key_pem(key))
    bundle = vault.secrets.pki.read_ca_certificate_chain(mount_point="pki_int")
    return ClientCert(str(cert_file), str(key_file), bundle)


def issued_cert(tmp: Path, name: str, leaf: Issued, chain: list[Issued], bundle_pem: str) -> ClientCert:
    """Files for a leaf made with tests.support.pki, presented with `chain` after it."""
    cert_file, key_file = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_file.write_text(leaf.cert_pem + "".join(c.cert_pem for c in chain))
    key_file.write_text(leaf.key_pem)
    return ClientCert(str(cert_file), str(key_file), bundle_pem)


def mtls_connect(
    host: str,
    port: int,
    *,
    service: str,
    trust_domain: str,
    bundle_pem: str,
    cert: ClientCert | None,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLSocket:
    """Handshake with an inbound listener as a mesh client would (Consul SNI, client cert).

    `max_version` below TLS 1.2 also lowers OpenSSL's security level, which would otherwise
    refuse to even offer the old protocol, so that the server is the one that says no.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=bundle_pem)
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.1 at all is deprecated
            if max_version < ssl.TLSVersion.TLSv1_2:
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = max_version
            ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(cert.cert_file, cert.key_file)
    raw = socket.create_connection((host, port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=sni_for(service, "dc1", trust_domain))


def peer_uris(sock: ssl.SSLSocket) -> list[str]:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def refused(sock: ssl.SSLSocket) -> bool:
    """True when the server ends the connection without serving (alert, reset or EOF)."""
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(1) == b""
    except (ssl.SSLError, OSError):
        return True
