"""Everything TLS needs at one instant: leaves, trust bundle, SSL contexts. Immutable.

A new TlsMaterial is built on every rotation or bundle change and swapped in whole; each
connection reads the current one once, so a handshake never mixes old and new parts.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mesh.certs.leaf import Leaf
from mesh.identity import parse_sni
from mesh.tls.contexts import client_context, server_context


@dataclass(frozen=True)
class ServiceTls:
    leaf: Leaf
    server: ssl.SSLContext = field(repr=False)
    client: ssl.SSLContext = field(repr=False)


@dataclass(frozen=True)
class TlsMaterial:
    trust_domain: str
    bundle: tuple[str, ...]
    services: Mapping[str, ServiceTls]
    listener: ssl.SSLContext = field(repr=False)

    @property
    def bundle_pem(self) -> str:
        return "".join(self.bundle)

    def expired(self, now: float) -> list[str]:
        return sorted(name for name, s in self.services.items() if s.leaf.expired(now))


def service_for_context(ctx: ssl.SSLContext) -> str | None:
    name = getattr(ctx, "mesh_service", None)
    return name if isinstance(name, str) else None


def build_material(
    trust_domain: str, bundle: tuple[str, ...], leaves: Mapping[str, tuple[Leaf, str, str]]
) -> TlsMaterial:
    """`leaves` maps service -> (leaf, cert file, key file)."""
    bundle_pem = "".join(bundle)
    services: dict[str, ServiceTls] = {}
    for name, (leaf, cert_file, key_file) in leaves.items():
        server = server_context(bundle_pem, cert_file, key_file)
        server.mesh_service = name  # type: ignore[attr-defined]
        services[name] = ServiceTls(leaf, server, client_context(bundle_pem, cert_file, key_file))
    listener = server_context(bundle_pem)
    listener.sni_callback = _sni_router(trust_domain, services)
    return TlsMaterial(trust_domain, bundle, services, listener)


SniCallback = Callable[[ssl.SSLObject, str | None, ssl.SSLContext], int | None]


def _sni_router(trust_domain: str, services: Mapping[str, ServiceTls]) -> SniCallback:
    only = next(iter(services.values())) if len(services) == 1 else None

    def route(sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        if server_name is None:
            # Without SNI a host with a single service is unambiguous (Envoy's default chain).
            if only is None:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            sslobj.context = only.server
            return None
        target = parse_sni(server_name, trust_domain)
        chosen = services.get(target.service) if target is not None else None
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = chosen.server
        return None

    return route
