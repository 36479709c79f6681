"""One PKI secrets engine mount (`pki`, `pki_int`...): CA lifecycle, roles, fetch endpoints.

Leaf issuance (`sign/:role`, `issue/:role`) lives in `pki_issue`; this module owns the mount's
state and the endpoints that manage it. Paths, fields and answers follow Vault 1.11+
(multi-issuer): `root/generate` and `intermediate/set-signed` add issuers, the first issuer
with a key becomes the default, and `ca/pem`, `ca_chain`, `cert/ca_chain` describe the default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mesh.devstack.vault import pki_issue
from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.pki_issuers import Issuer, IssuerStore, KeyEntry
from mesh.devstack.vault.pki_roles import PkiRole, certificate_not_after, looks_like_hostname, role_from_body
from mesh.devstack.vault.pki_x509 import (
    CertSpec,
    PrivateKey,
    SubjectSpec,
    UnsupportedKey,
    Urls,
    build_csr,
    colon_hex,
    generate_key,
    parse_serial,
    private_key_pem,
    public_key_of,
    sign,
    to_pem,
    utc,
)
from mesh.devstack.vault.routes import Request, Route, route
from mesh.devstack.vault.ttl import MountLimits
from mesh.devstack.vault.wire import RawBody, Reply, bad_request

_NAME = r"(?P<name>\w(?:[\w.-]*\w)?)"
_REF = r"(?P<ref>[^/]+)"
_CN_REQUIRED = (
    'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, '
    'unless "require_cn" is set to false'
)
_SUBJECT_FIELDS = ("organization", "ou", "country", "locality", "province", "street_address", "postal_code")


class PkiEngine:
    def __init__(self, mount_path: str, limits: Callable[[], MountLimits], now: Callable[[], float]) -> None:
        self.mount_path = mount_path
        self.limits = limits
        self.now = now
        self.store = IssuerStore()
        self.roles: dict[str, PkiRole] = {}
        self.certs: dict[int, x509.Certificate] = {}
        self.urls = Urls()
        self._routes = [
            route(r"root/generate/(?P<kind>[a-z]+)", write=self._generate_root),
            route(r"intermediate/generate/(?P<kind>[a-z]+)", write=self._generate_intermediate),
            route(r"root/sign-intermediate", write=self._sign_intermediate),
            route(rf"issuer/{_REF}/sign-intermediate", write=self._sign_intermediate),
            route(r"intermediate/set-signed", write=self._set_signed),
            route(r"roles/?", list_=self._list_roles),
            route(
                rf"roles/{_NAME}",
                read=self._read_role,
                write=self._write_role,
                delete=self._delete_role,
                exists=lambda r: r.params["name"] in self.roles,
            ),
            route(rf"sign/{_NAME}", write=lambda r: pki_issue.sign(self, r)),
            route(rf"issuer/{_REF}/sign/{_NAME}", write=lambda r: pki_issue.sign(self, r)),
            route(rf"issue/{_NAME}", write=lambda r: pki_issue.issue(self, r)),
            route(rf"issuer/{_REF}/issue/{_NAME}", write=lambda r: pki_issue.issue(self, r)),
            route(r"ca/pem", read=self._ca_pem, unauthenticated=True),
            route(r"ca", read=self._ca_der, unauthenticated=True),
            route(r"ca_chain", read=self._ca_chain_raw, unauthenticated=True),
            route(r"cert/ca_chain", read=self._ca_chain_json, unauthenticated=True),
            route(r"cert/ca", read=self._ca_json, unauthenticated=True),
            route(r"cert/(?P<serial>[0-9A-Fa-f:-]+)", read=self._read_cert, unauthenticated=True),
            route(r"certs/?", list_=self._list_certs),
            route(r"config/urls", read=self._read_urls, write=self._write_urls),
            route(r"config/issuers", read=self._read_issuers_config, write=self._write_issuers_config),
            route(r"issuers/?", list_=self._list_issuers, unauthenticated=True),
            route(rf"issuer/{_REF}", read=self._read_issuer, write=self._update_issuer),
        ]

    def routes(self) -> Sequence[Route]:
        return self._routes

    # -- accessors used by the server's faults and the devstack --------------------------

    def default_chain(self) -> list[Issuer]:
        issuer = self.store.default()
        return self.store.chain(issuer) if issuer else []

    def signing_issuer(self, ref: str) -> Issuer:
        issuer = self.store.resolve(ref)
        if issuer is None:
            if ref in ("", "default"):
                raise bad_request("no default issuer currently configured")
            raise bad_request(f"unable to find PKI issuer for reference: {ref}")
        if self.store.private_key(issuer) is None:
            raise bad_request(
                f"unable to fetch corresponding key for issuer {issuer.id}; unable to use this issuer for signing"
            )
        return issuer

    def record(self, cert: x509.Certificate) -> None:
        self.certs[cert.serial_number] = cert

    # -- CA lifecycle ----------------------------------------------------------------------

    def _generate_root(self, req: Request) -> Reply:
        body = req.body
        kind = _key_export_kind(req.params["kind"])
        common_name = body.text("common_name")
        if not common_name:
            raise bad_request(_CN_REQUIRED)
        key, key_entry = self._new_key(body)
        now, not_after, warnings = self._ca_not_after(body, None)
        spec = CertSpec(
            subject=_subject(body, common_name).name(),
            public_key=key.public_key(),
            not_before=utc(now - body.ttl("not_before_duration", 30)),
            not_after=utc(not_after),
            is_ca=True,
            max_path_length=body.integer("max_path_length", -1),
            dns_names=_cn_sans(body, common_name),
        )
        cert = sign(spec, None, key)
        issuer, _ = self.store.import_certificate(cert, name=body.text("issuer_name"))
        self.record(cert)
        data: dict[str, Any] = {
            "certificate": to_pem(cert),
            "expiration": int(not_after),
            "issuer_id": issuer.id,
            "issuer_name": issuer.name,
            "issuing_ca": to_pem(cert),
            "key_id": key_entry.id,
            "key_name": key_entry.name,
            "serial_number": colon_hex(cert.serial_number),
        }
        if kind == "exported":
            data["private_key"], data["private_key_type"] = private_key_pem(key)
        return Reply(data=data, warnings=warnings)

    def _generate_intermediate(self, req: Request) -> Reply:
        body = req.body
        kind = _key_export_kind(req.params["kind"])
        common_name = body.text("common_name")
        if not common_name:
            raise bad_request(_CN_REQUIRED)
        key, key_entry = self._new_key(body)
        csr = build_csr(key, _subject(body, common_name).name())
        data: dict[str, Any] = {
            "csr": csr.public_bytes(Encoding.PEM).decode().strip(),
            "key_id": key_entry.id,
            "key_type": body.text("key_type", "rsa"),
        }
        if kind == "exported":
            data["private_key"], data["private_key_type"] = private_key_pem(key)
        return Reply(data=data)

    def _sign_intermediate(self, req: Request) -> Reply:
        body = req.body
        issuer = self.signing_issuer(req.params.get("ref", "default"))
        issuer_key = self.store.private_key(issuer)
        assert issuer_key is not None
        csr = pki_issue.parse_csr(body.text("csr"))
        use_csr_values = body.flag("use_csr_values", False)
        common_name = body.text("common_name")
        if use_csr_values:
            subject = csr.subject
        else:
            if not common_name:
                raise bad_request(_CN_REQUIRED)
            subject = _subject(body, common_name).name()
        now, not_after, warnings = self._ca_not_after(body, issuer)
        spec = CertSpec(
            subject=subject,
            public_key=public_key_of(csr),
            not_before=utc(now - body.ttl("not_before_duration", 30)),
            not_after=utc(not_after),
            is_ca=True,
            max_path_length=_child_path_length(issuer.certificate, body.integer("max_path_length", -1)),
            dns_names=_cn_sans(body, common_name) if not use_csr_values else (),
            urls=self.urls,
        )
        cert = sign(spec, issuer.certificate, issuer_key)
        self.record(cert)
        return Reply(data=pki_issue.signed_data(self, cert, issuer, body.text("format", "pem")), warnings=warnings)

    def _set_signed(self, req: Request) -> Reply:
        text = req.body.text("certificate")
        try:
            certs = x509.load_pem_x509_certificates(text.encode())
        except ValueError as exc:
            raise bad_request(f"error parsing PEM bundle: {exc}") from None
        imported: list[str] = []
        existing: list[str] = []
        mapping: dict[str, str] = {}
        for cert in certs:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if not constraints.ca:
                raise bad_request("refusing to import non-CA certificate")
            issuer, created = self.store.import_certificate(cert)
            (imported if created else existing).append(issuer.id)
            mapping[issuer.id] = issuer.key_id or ""
        warnings = []
        if not any(mapping.values()):
            warnings.append("the imported certificates do not match any key of this mount; none can sign")
        return Reply(
            data={
                "imported_issuers": imported or None,
                "imported_keys": None,
                "existing_issuers": existing or None,
                "existing_keys": None,
                "mapping": mapping,
            },
            warnings=warnings,
        )

    def _ca_not_after(self, body: Body, issuer: Issuer | None) -> tuple[float, float, list[str]]:
        """Now, and the NotAfter of a CA certificate (a root, or an intermediate `issuer` signs): the
        requested TTL within the mount's, then within the issuer's validity as its
        `leaf_not_after_behavior` says; with Vault's warnings."""
        limits = self.limits()
        now = self.now()
        not_after, warnings = certificate_not_after(
            now=now,
            role_ttl=0,
            role_max_ttl=limits.max_ttl,
            requested_ttl=body.ttl("ttl"),
            limits=limits,
            issuer_not_after=None if issuer is None else issuer.certificate.not_valid_after_utc.timestamp(),
            issuer_behavior="err" if issuer is None else issuer.leaf_not_after_behavior,
        )
        return now, not_after, warnings

    def _new_key(self, body: Body) -> tuple[PrivateKey, KeyEntry]:
        try:
            key = generate_key(body.text("key_type", "rsa"), body.integer("key_bits", 0))
        except UnsupportedKey as exc:
            raise bad_request(str(exc)) from None
        return key, self.store.add_key(key, name=body.text("key_name"))

    # -- roles -----------------------------------------------------------------------------

    def _list_roles(self, req: Request) -> Reply | None:
        return Reply(data={"keys": sorted(self.roles)}) if self.roles else None

    def _read_role(self, req: Request) -> Reply | None:
        role = self.roles.get(req.params["name"])
        return Reply(data=role.to_data()) if role else None

    def _write_role(self, req: Request) -> Reply:
        role = role_from_body(req.body)
        self.roles[req.params["name"]] = role
        return Reply(data=role.to_data())

    def _delete_role(self, req: Request) -> None:
        self.roles.pop(req.params["name"], None)

    # -- fetch -----------------------------------------------------------------------------

    def _ca_pem(self, req: Request) -> Reply:
        issuer = self.store.default()
        body = issuer.pem.encode() if issuer else b""
        return Reply(raw=RawBody("application/pem-certificate-chain", body))

    def _ca_der(self, req: Request) -> Reply:
        issuer = self.store.default()
        body = issuer.certificate.public_bytes(Encoding.DER) if issuer else b""
        return Reply(raw=RawBody("application/pkix-cert", body))

    def _ca_chain_raw(self, req: Request) -> Reply:
        chain = "\n".join(i.pem for i in self.default_chain())
        return Reply(raw=RawBody("application/pkix-cert", chain.encode()))

    def _ca_chain_json(self, req: Request) -> Reply:
        if self.store.default() is None:
            raise bad_request("no default issuer currently configured")
        chain = "\n".join(i.pem for i in self.default_chain())
        return Reply(data={**_unrevoked(chain), "ca_chain": chain})

    def _ca_json(self, req: Request) -> Reply:
        issuer = self.store.default()
        if issuer is None:
            raise bad_request("no default issuer currently configured")
        return Reply(data=_unrevoked(issuer.pem))

    def _read_cert(self, req: Request) -> Reply | None:
        serial = parse_serial(req.params["serial"])
        cert = self.certs.get(serial) if serial is not None else None
        return Reply(data=_unrevoked(to_pem(cert))) if cert else None

    def _list_certs(self, req: Request) -> Reply | None:
        keys = [colon_hex(s) for s in self.certs]
        return Reply(data={"keys": keys}) if keys else None

    # -- configuration ---------------------------------------------------------------------

    def _read_urls(self, req: Request) -> Reply:
        return Reply(
            data={
                "issuing_certificates": list(self.urls.issuing_certificates),
                "crl_distribution_points": list(self.urls.crl_distribution_points),
                "ocsp_servers": list(self.urls.ocsp_servers),
                "enable_templating": False,
            }
        )

    def _write_urls(self, req: Request) -> None:
        body = req.body
        if body.flag("enable_templating", False):
            raise bad_request('"enable_templating" is not supported by the devstack Vault')
        self.urls = Urls(
            issuing_certificates=tuple(body.strings("issuing_certificates", self.urls.issuing_certificates)),
            crl_distribution_points=tuple(body.strings("crl_distribution_points", self.urls.crl_distribution_points)),
            ocsp_servers=tuple(body.strings("ocsp_servers", self.urls.ocsp_servers)),
        )

    def _read_issuers_config(self, req: Request) -> Reply:
        return Reply(data={"default": self.store.default_id or "", "default_follows_latest_issuer": False})

    def _write_issuers_config(self, req: Request) -> Reply:
        ref = req.body.text("default")
        issuer = self.store.resolve(ref) if ref and ref != "default" else None
        if issuer is None:
            raise bad_request(f"unable to find PKI issuer for reference: {ref}")
        self.store.default_id = issuer.id
        return self._read_issuers_config(req)

    def _list_issuers(self, req: Request) -> Reply | None:
        if not self.store.issuers:
            return None
        info = {
            i.id: {"issuer_name": i.name, "is_default": i.id == self.store.default_id, "key_id": i.key_id or ""}
            for i in self.store.issuers.values()
        }
        return Reply(data={"keys": list(info), "key_info": info})

    def _read_issuer(self, req: Request) -> Reply | None:
        issuer = self.store.resolve(req.params["ref"])
        if issuer is None:
            return None
        return Reply(
            data={
                "ca_chain": [i.pem for i in self.store.chain(issuer)],
                "certificate": issuer.pem,
                "issuer_id": issuer.id,
                "issuer_name": issuer.name,
                "key_id": issuer.key_id or "",
                "leaf_not_after_behavior": issuer.leaf_not_after_behavior,
                "manual_chain": None,
                "usage": "crl-signing,issuing-certificates,ocsp-signing,read-only",
            }
        )

    def _update_issuer(self, req: Request) -> Reply | None:
        issuer = self.store.resolve(req.params["ref"])
        if issuer is None:
            raise bad_request(f"unable to find PKI issuer for reference: {req.params['ref']}")
        behavior = req.body.text("leaf_not_after_behavior", issuer.leaf_not_after_behavior)
        if behavior not in ("err", "truncate", "permit"):
            raise bad_request(f"unknown value for field `leaf_not_after_behavior`: {behavior}")
        issuer.leaf_not_after_behavior = behavior
        issuer.name = req.body.text("issuer_name", issuer.name)
        return self._read_issuer(req)


def _key_export_kind(kind: str) -> str:
    if kind not in ("internal", "exported"):
        raise bad_request(f'type "{kind}" is not supported by the devstack Vault (use internal or exported)')
    return kind


def _subject(body: Body, common_name: str) -> SubjectSpec:
    values = {name: tuple(body.strings(name)) for name in _SUBJECT_FIELDS}
    return SubjectSpec(
        common_name=common_name,
        organization=values["organization"],
        organizational_unit=values["ou"],
        country=values["country"],
        locality=values["locality"],
        province=values["province"],
        street_address=values["street_address"],
        postal_code=values["postal_code"],
    )


def _cn_sans(body: Body, common_name: str) -> tuple[str, ...]:
    if body.flag("exclude_cn_from_sans", False) or not looks_like_hostname(common_name):
        return ()
    return (common_name,)


def _child_path_length(issuer: x509.Certificate, requested: int) -> int:
    if requested >= 0:
        return requested
    parent = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    if parent is None:
        return -1
    if parent == 0:
        raise bad_request("signing certificate has a max path length of zero, and cannot issue further CA certificates")
    return parent - 1


def _unrevoked(certificate: str) -> dict[str, Any]:
    return {"certificate": certificate, "revocation_time": 0, "revocation_time_rfc3339": ""}
