"""Identity issuance is per service: a host's Vault credentials sign only its own services' leaves.

Host A is provisioned by `mesh.vaultsetup` (the code operators run) as running `web`. With
A's AppRole credentials, Vault signs web's SPIFFE ID and refuses every other identity: `api`
through api's role (the host's policy does not grant it: 403), `api` or an arbitrary name
through web's own role (the role allows only web's SPIFFE ID: 400). An agent on A configured
with a service A does not own gets no leaf for it, says why, and still serves its own; once
A is provisioned for it, the agent gets it on its next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from mesh.identity import ServiceIdentity
from mesh.vaultsetup import BootstrapSettings, bootstrap
from tests.contract.vault.leaves import spiffe_csr
from tests.e2e.conftest import Mesh, Stack
from tests.support.ports import free_port
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

URI_NOT_ALLOWED = "URI Subject Alternative Names were provided via CSR which are not valid for this role"


@dataclass(frozen=True)
class HostCredentials:
    role_id: str
    secret_id: str
    pki_role: str  # as the agent config names it (`{service}` stands for the service)


def provision(stack: Stack, host: str, services: tuple[str, ...]) -> HostCredentials:
    """What an operator runs for one host: mesh.vaultsetup with the host's services."""
    root = stack.vault()
    try:
        settings = BootstrapSettings(
            trust_domain=stack.devstack.trust_domain, datacenters=("dc1",), hosts={host: services}
        )
        result = bootstrap(root, settings)
    finally:
        root.adapter.close()
    creds = result.host(host)
    return HostCredentials(creds.role_id, creds.secret_id, result.pki_role)


def logged_in(stack: Stack, creds: HostCredentials) -> hvac.Client:
    client = hvac.Client(url=stack.devstack.vault.url)
    client.auth.approle.login(creds.role_id, creds.secret_id)
    return client


def sign(client: hvac.Client, role: str, identity: str, common_name: str = "") -> dict[str, Any]:
    csr, _ = spiffe_csr(identity)
    answer: dict[str, Any] = client.secrets.pki.sign_certificate(
        role, csr, common_name=common_name, mount_point="pki_int"
    )
    return answer


def spiffe_id(stack: Stack, service: str) -> str:
    return ServiceIdentity(stack.devstack.trust_domain, "dc1", service).spiffe_id


def test_host_credentials_sign_only_the_hosts_own_service(stack: Stack) -> None:
    creds = provision(stack, "host-a", ("web",))
    a = logged_in(stack, creds)
    try:
        web_role, api_role = (creds.pki_role.replace("{service}", s) for s in ("web", "api"))
        signed = sign(a, web_role, spiffe_id(stack, "web"), "web")["data"]
        assert signed["certificate"]

        # api's role exists (host B runs api) but A's policy does not grant it.
        provision(stack, "host-b", ("api",))
        with pytest.raises(hvac.exceptions.Forbidden) as denied:
            sign(a, api_role, spiffe_id(stack, "api"), "api")
        assert denied.value.errors == ["1 error occurred:\n\t* permission denied\n\n"]

        # Through web's own role, only web's SPIFFE ID passes.
        for identity in (
            spiffe_id(stack, "api"),
            spiffe_id(stack, "anything"),
            f"spiffe://{stack.devstack.trust_domain}/ns/default/dc/dc1/svc/web/extra",
            f"spiffe://{stack.devstack.trust_domain}/ns/default/dc/dc2/svc/web",
        ):
            with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
                sign(a, web_role, identity)
            assert refused.value.errors == [URI_NOT_ALLOWED], identity
        # Nor may A name another service in the common name under web's role.
        with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
            sign(a, web_role, spiffe_id(stack, "web"), "api")
        assert refused.value.errors == ["common name api not allowed by this role"]
    finally:
        a.adapter.close()


def _agent_vault(mesh: Mesh, node: str, creds: HostCredentials) -> dict[str, Any]:
    home = mesh.tmp / f"{node}-vault"
    home.mkdir()
    files: dict[str, Path] = {"role_id_file": home / "role-id", "secret_id_file": home / "secret-id"}
    for path, value in zip(files.values(), (creds.role_id, creds.secret_id), strict=True):
        path.write_text(value)
        path.chmod(0o600)
    return {
        "auth": {"method": "approle", **{k: str(v) for k, v in files.items()}},
        "pki_role": creds.pki_role,
    }


def test_an_agent_gets_leaves_for_its_own_services_and_none_for_another_hosts(mesh: Mesh) -> None:
    host = mesh.host()
    mesh.app("web", host)
    creds = provision(mesh.stack, "host-a", ("web",))
    provision(mesh.stack, "host-b", ("api",))
    web = {"name": "web", "port": free_port(host), "address": host}
    api = {"name": "api", "port": free_port(host), "address": host}

    # A short leaf TTL keeps the retry cap short (mesh.certs.retry), for the re-provisioning below.
    vault = {**_agent_vault(mesh, "host-a", creds), "cert_ttl": "5m"}
    agent = mesh.agent("host-a", host, [api, web], ready=False, vault=vault)

    def leaves() -> dict[str, Any]:
        return {s["name"]: s["certificate"] for s in agent.status()["services"]}

    wait_until(lambda: leaves().get("web") is not None, 20, what="web's leaf on host A")
    wait_until(lambda: "api" in agent.status()["errors"].get("vault", ""), 20, what="the refusal for api, reported")
    status = agent.status()
    assert leaves()["web"]["spiffe_id"] == spiffe_id(mesh.stack, "web")
    assert leaves()["api"] is None
    assert "no certificate for api" in status["not_ready_reasons"]
    error = status["errors"]["vault"]
    assert "not allowed to sign on pki_int/sign/mesh-leaf-api" in error, error
    # The refusal is not mistaken for a dead token: A stays logged in with its one token.
    logins = [e for e in agent.process.log_events() if e.get("event") == "vault login"]
    assert len(logins) == 1, logins

    # Provisioning A for api too is enough: the agent's next attempt gets the leaf, same token.
    provision(mesh.stack, "host-a", ("web", "api"))
    agent.wait_ready(timeout=60)
    assert leaves()["api"]["spiffe_id"] == spiffe_id(mesh.stack, "api")
    assert len([e for e in agent.process.log_events() if e.get("event") == "vault login"]) == 1


def test_an_agent_provisioned_for_its_services_becomes_ready(mesh: Mesh) -> None:
    host = mesh.host()
    creds = provision(mesh.stack, "host-a", ("web", "admin"))
    services = [{"name": n, "port": free_port(host), "address": host} for n in ("web", "admin")]

    agent = mesh.agent("host-a", host, services, vault=_agent_vault(mesh, "host-a", creds))

    ids = {s["name"]: s["certificate"]["spiffe_id"] for s in agent.status()["services"]}
    assert ids == {n: spiffe_id(mesh.stack, n) for n in ("web", "admin")}
