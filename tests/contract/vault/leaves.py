"""What an agent does with Vault PKI: make a CSR for a SPIFFE ID, verify what comes back."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

TRUST_DOMAIN = "contract.test"
# What bootstrap provisions in every backend: host A runs web and api, host B runs db.
HOST_A, HOST_B = "vm-a", "vm-b"
HOSTS = {HOST_A: ("web", "api"), HOST_B: ("db",)}


def role(service: str) -> str:
    """The service's PKI role, as bootstrap names it by default."""
    return f"mesh-leaf-{service}"


def spiffe_id(service: str, trust_domain: str = TRUST_DOMAIN, dc: str = "dc1") -> str:
    return f"spiffe://{trust_domain}/ns/default/dc/{dc}/svc/{service}"


def spiffe_csr(uri: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A CSR like the agent's: P-256 key made here, empty subject, the SPIFFE ID as URI SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def verify_client(leaf_pem: str, presented: list[str], anchors: list[str]) -> verification.VerifiedClient:
    """Verify a leaf as a TLS server verifies a client: against `anchors`, with `presented` as
    the untrusted intermediates (self-signed entries of a chain are not trusted from it)."""
    store = verification.Store([load(pem) for pem in anchors])
    verifier = verification.PolicyBuilder().store(store).build_client_verifier()
    intermediates = [c for c in map(load, presented) if c.issuer != c.subject]
    return verifier.verify(load(leaf_pem), intermediates)


def roots_of(chain: list[str]) -> list[str]:
    return [pem for pem in chain if load(pem).issuer == load(pem).subject]
