"""A test's own mesh client: a leaf from Vault (or any CA) and a raw mTLS connection to an inbound listener."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import hvac
from cryptography import x509

from mesh.certs.leaf import build_csr, generate_key, key_pem
from mesh.identity import ServiceIdentity, sni_for


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


def mtls_connect(
    host: str, port: int, *, service: str, trust_domain: str, bundle_pem: str, cert: ClientCert | None
) -> ssl.SSLSocket:
    """Handshake with an inbound listener as a mesh client would (Consul SNI, client cert)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=bundle_pem)
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
