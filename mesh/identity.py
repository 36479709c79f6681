"""Workload identity in Consul's formats: SPIFFE IDs and SNI names (DESIGN.md section 6).

Using Consul's exact spellings lets this agent and Consul Connect's Envoy sidecars
verify each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "default"

# Consul service names: DNS-compatible labels (letters, digits, dashes), case-insensitive.
# Every pattern is applied with fullmatch: `$` also matches before a trailing newline, which
# let `.../svc/web\n` pass as `web`.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_SERVICE_NAME = re.compile(_NAME)
_TRUST_DOMAIN = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_SPIFFE_SERVICE = re.compile(
    rf"spiffe://(?P<td>{_NAME}(?:\.{_NAME})*)/ns/(?P<ns>{_NAME})/dc/(?P<dc>{_NAME})/svc/(?P<svc>{_NAME})"
)


def is_valid_service_name(name: str) -> bool:
    return _SERVICE_NAME.fullmatch(name) is not None


def is_valid_trust_domain(td: str) -> bool:
    return _TRUST_DOMAIN.fullmatch(td) is not None and len(td) <= 253


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    """The identity of one service in one datacenter: what a leaf certificate asserts."""

    trust_domain: str
    datacenter: str
    service: str
    namespace: str = DEFAULT_NAMESPACE

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/dc/{self.datacenter}/svc/{self.service}"

    @property
    def sni(self) -> str:
        return sni_for(self.service, self.datacenter, self.trust_domain, self.namespace)

    @classmethod
    def parse(cls, uri: str) -> ServiceIdentity:
        """Parse a Consul service SPIFFE ID, the whole string; ValueError if it is not one.

        Any namespace is read as written: whether a peer's namespace is acceptable is the
        peer check's decision (mesh.tls.peer), not the parser's."""
        m = _SPIFFE_SERVICE.fullmatch(uri)
        if not m:
            raise ValueError(f"not a Consul service SPIFFE ID: {uri!r}")
        return cls(
            trust_domain=m.group("td").lower(),
            datacenter=m.group("dc"),
            service=m.group("svc"),
            namespace=m.group("ns"),
        )


def sni_for(
    service: str, datacenter: str, trust_domain: str, namespace: str = DEFAULT_NAMESPACE, subset: str = ""
) -> str:
    """Consul's SNI for a service (optionally a subset): `[subset.]svc.ns.dc.internal.td`."""
    base = f"{service}.{namespace}.{datacenter}.internal.{trust_domain}"
    return f"{subset}.{base}" if subset else base


@dataclass(frozen=True, slots=True)
class SniTarget:
    service: str
    namespace: str
    datacenter: str
    subset: str = ""


def parse_sni(sni: str, trust_domain: str) -> SniTarget | None:
    """Read back a Consul-format SNI for our trust domain; None when it is not one of ours."""
    suffix = f".internal.{trust_domain.lower()}"
    name = sni.lower().rstrip(".")
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    if len(labels) == 3:
        return SniTarget(service=labels[0], namespace=labels[1], datacenter=labels[2])
    if len(labels) == 4:
        return SniTarget(subset=labels[0], service=labels[1], namespace=labels[2], datacenter=labels[3])
    return None
