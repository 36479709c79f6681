"""Building certificates the way Vault's PKI engine shapes them (with `cryptography`).

What Vault (through Go's x509 package) puts in what it signs:
- serial: random, up to 159 bits, shown as colon-separated hex;
- validity: notBefore backdated (role `not_before_duration`, 30s by default);
- CA certs: BasicConstraints CA:TRUE (critical), KeyUsage certSign+cRLSign (critical);
- leaves: KeyUsage from the role (critical), ExtKeyUsage from server/client flags, and
  BasicConstraints CA:FALSE only when the role sets `basic_constraints_valid_for_non_ca`;
- every cert: SubjectKeyIdentifier (SHA-1 of the public key bits) and, when issued by a CA,
  AuthorityKeyIdentifier = the issuer's SKID; AIA/CRL URLs from the mount's `config/urls`;
- SAN is critical when the subject is empty (RFC 5280, as Go does).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_CURVES: dict[int, ec.EllipticCurve] = {
    224: ec.SECP224R1(),
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}
DEFAULT_KEY_BITS = {"rsa": 2048, "ec": 256, "ed25519": 0}

KEY_USAGES = (
    "digitalsignature",
    "contentcommitment",
    "keyencipherment",
    "dataencipherment",
    "keyagreement",
    "certsign",
    "crlsign",
    "encipheronly",
    "decipheronly",
)
_EXT_KEY_USAGES = {
    "serverauth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientauth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codesigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailprotection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocspsigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}


class UnsupportedKey(ValueError):
    """An unsupported key type or size."""


def normalized_key_bits(key_type: str, key_bits: int) -> int:
    if key_type not in DEFAULT_KEY_BITS and key_type != "any":
        raise UnsupportedKey(f"unknown key type {key_type}")
    if key_type == "any" or key_bits == 0:
        return DEFAULT_KEY_BITS.get(key_type, 0)
    if key_type == "ec" and key_bits not in _CURVES:
        raise UnsupportedKey(f"unsupported bit length for EC key: {key_bits}")
    if key_type == "rsa" and key_bits not in (2048, 3072, 4096, 8192):
        raise UnsupportedKey(f"unsupported bit length for RSA key: {key_bits}")
    return key_bits


def generate_key(key_type: str, key_bits: int) -> PrivateKey:
    bits = normalized_key_bits(key_type, key_bits)
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[bits])
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise UnsupportedKey(f"cannot generate a key of type {key_type}")


def describe_key(key: PublicKey) -> tuple[str, int]:
    """(Vault key type, bits) of a public key."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    return "ed25519", 0


def public_key_of(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> PublicKey:
    key = cert_or_csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnsupportedKey("unsupported public key algorithm")
    return key


def new_serial() -> int:
    return secrets.randbits(159) or 1


def colon_hex(serial: int) -> str:
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    return ":".join(f"{b:02x}" for b in raw)


def parse_serial(text: str) -> int | None:
    digits = text.replace(":", "").replace("-", "")
    try:
        return int(digits, 16)
    except ValueError:
        return None


def to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode().strip()


def to_der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def private_key_pem(key: PrivateKey) -> tuple[str, str]:
    """(PEM, Vault's private_key_type): PKCS#1/SEC1 for rsa/ec as Vault's `der` format, PKCS#8 for ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        fmt = serialization.PrivateFormat.PKCS8
        kind = "ed25519"
    else:
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
        kind = "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    return pem.decode().strip(), kind


def _signature_hash(issuer_key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        size = issuer_key.curve.key_size
        return hashes.SHA384() if size == 384 else hashes.SHA512() if size == 521 else hashes.SHA256()
    return hashes.SHA256()


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    common_name: str = ""
    organization: tuple[str, ...] = ()
    organizational_unit: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    street_address: tuple[str, ...] = ()
    postal_code: tuple[str, ...] = ()

    def name(self) -> x509.Name:
        attrs: list[x509.NameAttribute[str]] = []
        for oid, values in (
            (NameOID.COUNTRY_NAME, self.country),
            (NameOID.STATE_OR_PROVINCE_NAME, self.province),
            (NameOID.LOCALITY_NAME, self.locality),
            (NameOID.STREET_ADDRESS, self.street_address),
            (NameOID.POSTAL_CODE, self.postal_code),
            (NameOID.ORGANIZATION_NAME, self.organization),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organizational_unit),
        ):
            attrs.extend(x509.NameAttribute(oid, v) for v in values)
        if self.common_name:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        return x509.Name(attrs)


@dataclass(frozen=True, slots=True)
class Urls:
    issuing_certificates: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    ocsp_servers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CertSpec:
    subject: x509.Name
    public_key: PublicKey
    not_before: datetime
    not_after: datetime
    is_ca: bool = False
    max_path_length: int = -1
    key_usage: tuple[str, ...] = ()
    ext_key_usage: tuple[str, ...] = ()
    leaf_basic_constraints: bool = False
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    urls: Urls = field(default_factory=Urls)
    serial: int = field(default_factory=new_serial)


def sign(spec: CertSpec, issuer: x509.Certificate | None, issuer_key: PrivateKey) -> x509.Certificate:
    """Sign `spec` with `issuer_key`; `issuer` None means self-signed."""
    skid = x509.SubjectKeyIdentifier.from_public_key(spec.public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(issuer.subject if issuer else spec.subject)
        .public_key(spec.public_key)
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    if spec.is_ca:
        path_len = spec.max_path_length if spec.max_path_length >= 0 else None
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        builder = builder.add_extension(_key_usage(("certsign", "crlsign")), critical=True)
    else:
        if spec.key_usage:
            builder = builder.add_extension(_key_usage(spec.key_usage), critical=True)
        if spec.ext_key_usage:
            ekus = [_EXT_KEY_USAGES[u] for u in spec.ext_key_usage]
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        if spec.leaf_basic_constraints:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(skid, critical=False)
    if issuer is not None:
        issuer_skid = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_skid), critical=False
        )
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(skid.digest, None, None), critical=False)
    sans = _sans(spec)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=len(spec.subject) == 0)
    builder = _with_urls(builder, spec.urls)
    return builder.sign(issuer_key, _signature_hash(issuer_key))


def build_csr(key: PrivateKey, subject: x509.Name) -> x509.CertificateSigningRequest:
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, _signature_hash(key))


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _key_usage(names: tuple[str, ...]) -> x509.KeyUsage:
    wanted = {n.lower() for n in names}
    flags = {name: name in wanted for name in KEY_USAGES}
    agreement = flags["keyagreement"]
    return x509.KeyUsage(
        digital_signature=flags["digitalsignature"],
        content_commitment=flags["contentcommitment"],
        key_encipherment=flags["keyencipherment"],
        data_encipherment=flags["dataencipherment"],
        key_agreement=agreement,
        key_cert_sign=flags["certsign"],
        crl_sign=flags["crlsign"],
        encipher_only=agreement and flags["encipheronly"],
        decipher_only=agreement and flags["decipheronly"],
    )


def _sans(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    names += [x509.RFC822Name(e) for e in spec.emails]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    names += [x509.UniformResourceIdentifier(u) for u in spec.uris]
    return names


def _with_urls(builder: x509.CertificateBuilder, urls: Urls) -> x509.CertificateBuilder:
    access = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
        for u in urls.ocsp_servers
    ] + [
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
        for u in urls.issuing_certificates
    ]
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if urls.crl_distribution_points:
        points = [
            x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
            for u in urls.crl_distribution_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    return builder
