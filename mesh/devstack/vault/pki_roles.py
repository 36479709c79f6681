"""PKI roles and the issuance rules Vault applies with them: names, URI SANs, lifetimes.

Pure decisions over plain values; messages are Vault's (builtin/logical/pki/issuing).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.pki_x509 import UnsupportedKey, normalized_key_bits
from mesh.devstack.vault.ttl import MountLimits
from mesh.devstack.vault.wire import VaultError, bad_request
from mesh.durations import format_go_duration

DEFAULT_KEY_USAGE = ("DigitalSignature", "KeyAgreement", "KeyEncipherment")
_UNSUPPORTED_TRUE = ("allowed_uri_sans_template", "allowed_domains_template", "allow_token_displayname")


@dataclass(frozen=True, slots=True)
class PkiRole:
    ttl: int = 0
    max_ttl: int = 0
    allow_localhost: bool = True
    allowed_domains: tuple[str, ...] = ()
    allow_bare_domains: bool = False
    allow_subdomains: bool = False
    allow_glob_domains: bool = False
    allow_wildcard_certificates: bool = True
    allow_any_name: bool = False
    enforce_hostnames: bool = True
    allow_ip_sans: bool = True
    allowed_uri_sans: tuple[str, ...] = ()
    allowed_uri_sans_template: bool = False
    server_flag: bool = True
    client_flag: bool = True
    code_signing_flag: bool = False
    email_protection_flag: bool = False
    key_type: str = "rsa"
    key_bits: int = 2048
    key_usage: tuple[str, ...] = DEFAULT_KEY_USAGE
    ext_key_usage: tuple[str, ...] = ()
    use_csr_common_name: bool = True
    use_csr_sans: bool = True
    ou: tuple[str, ...] = ()
    organization: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    street_address: tuple[str, ...] = ()
    postal_code: tuple[str, ...] = ()
    generate_lease: bool = False
    no_store: bool = False
    require_cn: bool = True
    cn_validations: tuple[str, ...] = ("email", "hostname")
    basic_constraints_valid_for_non_ca: bool = False
    not_before_duration: int = 30
    issuer_ref: str = "default"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        data.update(
            {
                "allowed_domains_template": False,
                "allowed_other_sans": [],
                "allowed_serial_numbers": [],
                "allowed_user_ids": [],
                "ext_key_usage_oids": [],
                "policy_identifiers": [],
                "signature_bits": 256 if self.key_type == "ec" else 0,
                "use_pss": False,
                "not_after": "",
                "serial_number_source": "json-csr",
                "allow_token_displayname": False,
            }
        )
        return data


def role_from_body(body: Body) -> PkiRole:
    """A role written with POST: unspecified fields take Vault's defaults (a write replaces)."""
    for name in _UNSUPPORTED_TRUE:
        if body.flag(name, False):
            raise bad_request(f'"{name}" is not supported by the devstack Vault')
    base = PkiRole()
    key_type = body.text("key_type", base.key_type)
    try:
        key_bits = normalized_key_bits(key_type, body.integer("key_bits", 0))
    except UnsupportedKey as exc:
        raise bad_request(str(exc)) from None
    no_store = body.flag("no_store", False)
    role = PkiRole(
        ttl=body.ttl("ttl"),
        max_ttl=body.ttl("max_ttl"),
        allow_localhost=body.flag("allow_localhost", base.allow_localhost),
        allowed_domains=tuple(body.strings("allowed_domains")),
        allow_bare_domains=body.flag("allow_bare_domains", base.allow_bare_domains),
        allow_subdomains=body.flag("allow_subdomains", base.allow_subdomains),
        allow_glob_domains=body.flag("allow_glob_domains", base.allow_glob_domains),
        allow_wildcard_certificates=body.flag("allow_wildcard_certificates", base.allow_wildcard_certificates),
        allow_any_name=body.flag("allow_any_name", base.allow_any_name),
        enforce_hostnames=body.flag("enforce_hostnames", base.enforce_hostnames),
        allow_ip_sans=body.flag("allow_ip_sans", base.allow_ip_sans),
        allowed_uri_sans=tuple(body.strings("allowed_uri_sans")),
        server_flag=body.flag("server_flag", base.server_flag),
        client_flag=body.flag("client_flag", base.client_flag),
        code_signing_flag=body.flag("code_signing_flag", base.code_signing_flag),
        email_protection_flag=body.flag("email_protection_flag", base.email_protection_flag),
        key_type=key_type,
        key_bits=key_bits,
        key_usage=tuple(body.strings("key_usage", DEFAULT_KEY_USAGE)),
        ext_key_usage=tuple(body.strings("ext_key_usage")),
        use_csr_common_name=body.flag("use_csr_common_name", base.use_csr_common_name),
        use_csr_sans=body.flag("use_csr_sans", base.use_csr_sans),
        ou=tuple(body.strings("ou")),
        organization=tuple(body.strings("organization")),
        country=tuple(body.strings("country")),
        locality=tuple(body.strings("locality")),
        province=tuple(body.strings("province")),
        street_address=tuple(body.strings("street_address")),
        postal_code=tuple(body.strings("postal_code")),
        generate_lease=False if no_store else body.flag("generate_lease", False),
        no_store=no_store,
        require_cn=body.flag("require_cn", base.require_cn),
        cn_validations=tuple(body.strings("cn_validations", base.cn_validations)),
        basic_constraints_valid_for_non_ca=body.flag("basic_constraints_valid_for_non_ca", False),
        not_before_duration=body.ttl("not_before_duration", base.not_before_duration),
        issuer_ref=body.text("issuer_ref", base.issuer_ref),
    )
    if role.max_ttl > 0 and role.ttl > role.max_ttl:
        raise bad_request('"ttl" value must be less than "max_ttl" value')
    if set(role.cn_validations) - {"email", "hostname", "disabled"}:
        raise bad_request(f"unknown cn_validations value: {', '.join(role.cn_validations)}")
    return role


def glob(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob, which Vault uses for allowed_uri_sans: `*` matches any run, `/` included."""
    if pattern == "":
        return subject == ""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return subject == pattern
    leading, trailing = pattern.startswith("*"), pattern.endswith("*")
    for i, part in enumerate(parts[:-1]):
        idx = subject.find(part)
        if (i == 0 and not leading and idx != 0) or idx < 0:
            return False
        subject = subject[idx + len(part) :]
    return trailing or subject.endswith(parts[-1])


def uri_allowed(role: PkiRole, uri: str) -> bool:
    return any(glob(allowed, uri) for allowed in role.allowed_uri_sans)


_LABEL = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])"
_LEFT_WILD = rf"(\*|\*{_LABEL}|{_LABEL}\*|{_LABEL}\*{_LABEL})"
_HOSTNAME = rf"({_LABEL}\.)*{_LABEL}\.?$"
WILD_HOSTNAME = re.compile(rf"^({_LEFT_WILD}\.)?{_HOSTNAME}")


def looks_like_hostname(name: str) -> bool:
    return bool(WILD_HOSTNAME.match(name))


def name_rejected(role: PkiRole, name: str) -> bool:
    """Vault's ValidateNames for one DNS name or email: True when the role refuses it."""
    reduced, is_email, is_wildcard, wildcard_label = name, False, False, ""
    if "@" in reduced:
        parts = reduced.split("@")
        if len(parts) != 2:
            return True
        reduced, is_email = parts[1], True
    email_domain = reduced
    if "*" in reduced:
        is_wildcard = True
        if not role.allow_wildcard_certificates or reduced.count("*") > 1:
            return True
        wildcard_label, _, rest = reduced.partition(".")
        if "*" in rest:
            return True
        reduced = rest
    if is_email and is_wildcard:
        return True
    if role.enforce_hostnames and reduced:
        candidate = f"{wildcard_label}.{reduced}" if is_wildcard else reduced
        if not looks_like_hostname(candidate):
            return True
    if role.allow_any_name:
        return False
    if role.allow_localhost and (reduced in ("localhost", "localdomain") or email_domain in ("localhost",)):
        return False
    for domain in role.allowed_domains:
        if not domain:
            continue
        if role.allow_bare_domains and (name.lower() == domain.lower() or email_domain.lower() == domain.lower()):
            return False
        if role.allow_subdomains and (
            reduced.endswith("." + domain) or (is_wildcard and reduced.lower() == domain.lower())
        ):
            return False
        if role.allow_glob_domains and "*" in domain and glob(domain.lower(), name.lower()):
            return False
    return True


def common_name_rejected(role: PkiRole, cn: str) -> bool:
    if role.cn_validations == ("disabled",):
        return False
    if name_rejected(role, cn):
        return True
    if not role.cn_validations:
        return False
    return ("email" if "@" in cn else "hostname") not in role.cn_validations


def certificate_not_after(
    *,
    now: float,
    role_ttl: int,
    role_max_ttl: int,
    requested_ttl: int,
    limits: MountLimits,
    issuer_not_after: float | None,
    issuer_behavior: str,
) -> tuple[float, list[str]]:
    """Vault's GetCertificateNotAfter: request TTL, else role TTL, else mount default; capped
    at the role's max TTL (else the mount's) with Vault's warning; then the issuer's
    `leaf_not_after_behavior` when the cert would outlive its CA (`err` by default)."""
    warnings: list[str] = []
    ttl = requested_ttl or role_ttl or limits.default_ttl
    max_ttl = role_max_ttl or limits.max_ttl
    if ttl > max_ttl:
        warnings.append(
            f'TTL "{format_go_duration(ttl)}" is longer than permitted maxTTL "{format_go_duration(max_ttl)}", '
            "so maxTTL is being used"
        )
        ttl = max_ttl
    not_after = now + ttl
    if issuer_not_after is not None and not_after > issuer_not_after:
        if issuer_behavior == "truncate":
            not_after = issuer_not_after
        elif issuer_behavior != "permit":
            raise VaultError(
                400,
                [
                    f"cannot satisfy request, as TTL would result in notAfter of {_rfc3339(not_after)} "
                    f"that is beyond the expiration of the CA certificate at {_rfc3339(issuer_not_after)}"
                ],
            )
    return not_after, warnings


def _rfc3339(ts: float) -> str:
    """Go's RFC3339Nano: fractional seconds without trailing zeros."""
    stamp = datetime.fromtimestamp(ts, UTC)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
