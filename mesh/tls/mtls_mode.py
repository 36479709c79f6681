"""Which local service, if any, a plaintext connection may reach (pure).

Consul's rule for the mode: a service-defaults `MutualTLSMode` of "strict" or "permissive"
wins; "" (or no document) inherits the host's `inbound.mtls_mode` (Consul's proxy-defaults).

Plaintext carries no SNI, so it can only be routed when exactly one local service is
permissive; with two or more the connection is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mesh.config.model import LocalService, MtlsMode


def effective_mode(service: str, host_mode: MtlsMode, service_modes: Mapping[str, str | None]) -> MtlsMode:
    override = (service_modes.get(service) or "").lower()
    if override == "permissive":
        return "permissive"
    if override == "strict":
        return "strict"
    return host_mode


@dataclass(frozen=True, slots=True)
class PlaintextDecision:
    service: LocalService | None
    reason: str  # why refused; empty when accepted

    @property
    def accepted(self) -> bool:
        return self.service is not None


def plaintext_target(
    services: Sequence[LocalService], host_mode: MtlsMode, service_modes: Mapping[str, str | None]
) -> PlaintextDecision:
    permissive = [s for s in services if effective_mode(s.name, host_mode, service_modes) == "permissive"]
    if not permissive:
        return PlaintextDecision(None, "plaintext refused: mutual TLS is strict")
    if len(permissive) > 1:
        names = ", ".join(s.name for s in permissive)
        return PlaintextDecision(None, f"plaintext refused: several permissive services ({names}) and no SNI")
    return PlaintextDecision(permissive[0], "")
