"""Leaf issuance: `sign/:role` (the caller's CSR) and `issue/:role` (Vault makes the key).

The role is applied as Vault's `GenerateCreationBundle` applies it: the CN and SANs come
from the CSR when `use_csr_common_name`/`use_csr_sans` (the defaults), URI SANs must match
`allowed_uri_sans` globs, a TTL above the role's `max_ttl` (else the mount's max lease TTL)
is capped with Vault's warning, and a leaf that would outlive its CA is refused.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from cryptography import x509

from mesh.devstack.vault import pki_x509
from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.pki_issuers import Issuer
from mesh.devstack.vault.pki_roles import (
    PkiRole,
    certificate_not_after,
    common_name_rejected,
    looks_like_hostname,
    name_rejected,
    uri_allowed,
)
from mesh.devstack.vault.pki_x509 import (
    CertSpec,
    PublicKey,
    SubjectSpec,
    UnsupportedKey,
    colon_hex,
    describe_key,
    generate_key,
    private_key_pem,
    public_key_of,
    to_der_b64,
    to_pem,
    utc,
)
from mesh.devstack.vault.routes import Request
from mesh.devstack.vault.wire import Reply, bad_request

if TYPE_CHECKING:
    from mesh.devstack.vault.pki_engine import PkiEngine

_CN_REQUIRED = (
    'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, '
    'unless "require_cn" is set to false'
)


def parse_csr(text: str) -> x509.CertificateSigningRequest:
    if not text.strip():
        raise bad_request("csr contains no data")
    try:
        csr = x509.load_pem_x509_csr(text.encode())
    except ValueError as exc:
        raise bad_request(f"certificate request could not be parsed: {exc}") from None
    if not csr.is_signature_valid:
        raise bad_request("request signature invalid")
    return csr


def sign(engine: PkiEngine, req: Request) -> Reply:
    role = _role(engine, req)
    csr = parse_csr(req.body.text("csr"))
    public_key = public_key_of(csr)
    _check_key(role, public_key)
    return _issue(engine, req, role, public_key, csr)


def issue(engine: PkiEngine, req: Request) -> Reply:
    role = _role(engine, req)
    if role.key_type == "any":
        raise bad_request('role key type "any" not allowed for issuing certificates, only signing')
    try:
        key = generate_key(role.key_type, role.key_bits)
    except UnsupportedKey as exc:
        raise bad_request(str(exc)) from None
    reply = _issue(engine, req, role, key.public_key(), None)
    assert reply.data is not None
    reply.data["private_key"], reply.data["private_key_type"] = private_key_pem(key)
    return reply


def signed_data(engine: PkiEngine, cert: x509.Certificate, issuer: Issuer, fmt: str) -> dict[str, Any]:
    """The `data` of a signing answer: the cert, its issuer, the issuer's chain, serial, expiry."""
    chain = engine.store.chain(issuer)
    if fmt == "der":
        certificate = to_der_b64(cert)
    elif fmt == "pem_bundle":
        certificate = "\n".join([to_pem(cert), *(i.pem for i in chain)])
    elif fmt == "pem":
        certificate = to_pem(cert)
    else:
        raise bad_request(f"unsupported format argument: {fmt}")
    return {
        "certificate": certificate,
        "issuing_ca": issuer.pem,
        "ca_chain": [i.pem for i in chain],
        "serial_number": colon_hex(cert.serial_number),
        "expiration": int(cert.not_valid_after_utc.timestamp()),
    }


def _role(engine: PkiEngine, req: Request) -> PkiRole:
    name = req.params["name"]
    role = engine.roles.get(name)
    if role is None:
        raise bad_request(f"unknown role: {name}")
    return role


def _check_key(role: PkiRole, key: PublicKey) -> None:
    if role.key_type == "any":
        return
    key_type, bits = describe_key(key)
    if key_type != role.key_type:
        raise bad_request(f"role requires keys of type {role.key_type}")
    if bits < role.key_bits:
        raise bad_request(f"role requires a minimum of a {role.key_bits}-bit key, but CSR's key is {bits} bits")


def _issue(
    engine: PkiEngine,
    req: Request,
    role: PkiRole,
    public_key: PublicKey,
    csr: x509.CertificateSigningRequest | None,
) -> Reply:
    body = req.body
    if body.strings("other_sans"):
        raise bad_request('"other_sans" is not supported by the devstack Vault')
    if body.text("not_after"):
        raise bad_request('"not_after" is not supported by the devstack Vault')
    issuer = engine.signing_issuer(req.params.get("ref") or role.issuer_ref)
    issuer_key = engine.store.private_key(issuer)
    assert issuer_key is not None

    common_name, dns_names, emails = _names(role, body, csr)
    ip_addresses = _ip_sans(role, body, csr)
    uris = _uri_sans(role, body, csr)

    now = engine.now()
    not_after, warnings = certificate_not_after(
        now=now,
        role_ttl=role.ttl,
        role_max_ttl=role.max_ttl,
        requested_ttl=body.ttl("ttl"),
        limits=engine.limits(),
        issuer_not_after=issuer.certificate.not_valid_after_utc.timestamp(),
        issuer_behavior=issuer.leaf_not_after_behavior,
    )
    not_before = now - role.not_before_duration
    if not_before < issuer.certificate.not_valid_before_utc.timestamp():
        raise bad_request("notBefore before signer's notBefore")

    ext_key_usage = [*(["serverauth"] if role.server_flag else []), *(["clientauth"] if role.client_flag else [])]
    ext_key_usage += ["codesigning"] * role.code_signing_flag + ["emailprotection"] * role.email_protection_flag
    ext_key_usage += [u.lower() for u in role.ext_key_usage if u.lower() not in ext_key_usage]
    subject = SubjectSpec(
        common_name=common_name,
        organization=role.organization,
        organizational_unit=role.ou,
        country=role.country,
        locality=role.locality,
        province=role.province,
        street_address=role.street_address,
        postal_code=role.postal_code,
    )
    spec = CertSpec(
        subject=subject.name(),
        public_key=public_key,
        not_before=utc(not_before),
        not_after=utc(not_after),
        key_usage=role.key_usage,
        ext_key_usage=tuple(dict.fromkeys(ext_key_usage)),
        leaf_basic_constraints=role.basic_constraints_valid_for_non_ca,
        dns_names=tuple(dict.fromkeys(dns_names)),
        ip_addresses=tuple(ip_addresses),
        uris=tuple(uris),
        emails=tuple(dict.fromkeys(emails)),
        urls=engine.urls,
    )
    cert = pki_x509.sign(spec, issuer.certificate, issuer_key)
    if not role.no_store:
        engine.record(cert)
    return Reply(data=signed_data(engine, cert, issuer, body.text("format", "pem")), warnings=warnings)


def _names(role: PkiRole, body: Body, csr: x509.CertificateSigningRequest | None) -> tuple[str, list[str], list[str]]:
    common_name = ""
    if csr is not None and role.use_csr_common_name:
        common_name = _csr_common_name(csr)
    if not common_name:
        common_name = body.text("common_name")
        if not common_name and role.require_cn:
            raise bad_request(_CN_REQUIRED)
    dns_names: list[str] = []
    emails: list[str] = []
    if csr is not None and role.use_csr_sans:
        dns_names += _csr_sans(csr, x509.DNSName)
        emails += _csr_sans(csr, x509.RFC822Name)
    if common_name and not body.flag("exclude_cn_from_sans", False):
        if "@" in common_name:
            emails.append(common_name)
        elif looks_like_hostname(common_name):
            dns_names.append(common_name)
    if csr is None or not role.use_csr_sans:
        for name in body.strings("alt_names"):
            if "@" in name:
                emails.append(name)
            elif looks_like_hostname(name):
                dns_names.append(name)
            else:
                raise bad_request(
                    f"subject alternate name {name} is not a valid DNS name and cannot be included as a SAN"
                )
    if common_name and common_name_rejected(role, common_name):
        raise bad_request(f"common name {common_name} not allowed by this role")
    for name in dns_names:
        if name_rejected(role, name):
            raise bad_request(f"subject alternate name {name} not allowed by this role")
    for name in emails:
        if name_rejected(role, name):
            raise bad_request(f"email address {name} not allowed by this role")
    return common_name, dns_names, emails


def _ip_sans(role: PkiRole, body: Body, csr: x509.CertificateSigningRequest | None) -> list[str]:
    if csr is not None and role.use_csr_sans:
        found = [str(ip) for ip in _csr_sans(csr, x509.IPAddress)]
        if found and not role.allow_ip_sans:
            raise bad_request(
                "IP Subject Alternative Names are not allowed in this role, but was provided some via CSR"
            )
        return found
    requested = body.strings("ip_sans")
    if requested and not role.allow_ip_sans:
        raise bad_request(f"IP Subject Alternative Names are not allowed in this role, but was provided {requested}")
    for ip in requested:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise bad_request(f'the value "{ip}" is not a valid IP address') from None
    return requested


def _uri_sans(role: PkiRole, body: Body, csr: x509.CertificateSigningRequest | None) -> list[str]:
    if csr is not None and role.use_csr_sans:
        found = [str(u) for u in _csr_sans(csr, x509.UniformResourceIdentifier)]
        if found and not role.allowed_uri_sans:
            raise bad_request("URI Subject Alternative Names are not allowed in this role, but were provided via CSR")
        if any(not uri_allowed(role, u) for u in found):
            raise bad_request("URI Subject Alternative Names were provided via CSR which are not valid for this role")
        return found
    requested = body.strings("uri_sans")
    if requested and not role.allowed_uri_sans:
        raise bad_request("URI Subject Alternative Names are not allowed in this role, but were provided via the API")
    if any(not uri_allowed(role, u) for u in requested):
        raise bad_request("URI Subject Alternative Names were provided via the API which are not valid for this role")
    return requested


def _csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    values = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode()


def _csr_sans(csr: x509.CertificateSigningRequest, kind: type[x509.GeneralName]) -> list[Any]:
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.value for name in sans if isinstance(name, kind)]
