"""A Vault stand-in on loopback (its own thread and loop), bootstrapped as for the mesh, with a
clock the test can move forward; and the agent-side settings and metrics to drive it with.

These tests exercise the agent's real Vault client over real HTTP: nothing of ours is mocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import pytest

from mesh.certs.telemetry import CertMetrics
from mesh.config.model import VaultAuth, VaultSettings
from mesh.devstack.threaded import StandInThread
from mesh.devstack.vault import VaultServer
from mesh.devstack.vault.state import VaultState
from mesh.telemetry.metrics import Metrics
from mesh.vault.client import VaultClient
from mesh.vaultsetup import BootstrapSettings, bootstrap

# Short enough that a rotated root's CN ("<td> Root CA (generation 2)") fits X.509's 64 characters.
TRUST_DOMAIN = "c0ffee01.consul"


@dataclass
class Clock:
    """Vault's notion of now: real time plus an offset the test advances."""

    offset: float = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


@dataclass
class VaultEnv:
    server: VaultServer
    thread: StandInThread
    clock: Clock
    settings: VaultSettings
    registry_metrics: Metrics
    clients: list[VaultClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metrics = CertMetrics(self.registry_metrics)
        self.registry = self.registry_metrics.registry

    @property
    def auth(self) -> VaultAuth:
        return self.settings.auth

    def client(self) -> VaultClient:
        client = VaultClient(self.settings, observe=self.metrics.vault_request)
        self.clients.append(client)
        return client

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.server.url, token=self.server.root_token)

    def requests(self, operation: str, result: str = "ok") -> float:
        labels = {"operation": operation, "result": result}
        return self.registry.get_sample_value("mesh_vault_requests_total", labels) or 0.0

    def total_requests(self) -> float:
        return sum(s.value for m in self.registry.collect() for s in m.samples if s.name == "mesh_vault_requests_total")

    def stop(self) -> None:
        self.thread.run(self.server.stop())

    def start(self) -> None:
        self.thread.run(self.server.start())


@pytest.fixture
def make_vault(tmp_path: Path) -> Iterator[Callable[..., VaultEnv]]:
    envs: list[VaultEnv] = []

    def make(*, token_ttl: str = "1h", token_max_ttl: str = "24h") -> VaultEnv:  # noqa: S107 - lifetimes
        clock = Clock()
        server = VaultServer()
        server.state = VaultState(server.root_token, now=clock)
        thread = StandInThread(server, name="vault-under-test")
        thread.start()
        root = hvac.Client(url=server.url, token=server.root_token)
        result = bootstrap(
            root,
            BootstrapSettings(
                trust_domain=TRUST_DOMAIN,
                token_ttl=token_ttl,
                token_max_ttl=token_max_ttl,
                hosts={"vm-1": ("web", "api", "db")},
            ),
        )
        root.adapter.close()
        role_id, secret_id = tmp_path / "role-id", tmp_path / "secret-id"
        host = result.host("vm-1")
        role_id.write_text(host.role_id)
        secret_id.write_text(host.secret_id)
        auth = VaultAuth(method="approle", role_id_file=str(role_id), secret_id_file=str(secret_id))
        settings = VaultSettings(address=server.url, auth=auth, pki_path=result.pki_path, pki_role=result.pki_role)
        env = VaultEnv(server, thread, clock, settings, Metrics())
        envs.append(env)
        return env

    yield make
    for env in envs:
        for client in env.clients:
            client.close()
        env.thread.stop()
