"""examples/vault-setup/setup.py as an operator runs it: per-host credentials from a command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from mesh.devstack.threaded import StandInThread
from mesh.devstack.vault import VaultServer
from tests.contract.vault.leaves import spiffe_csr, spiffe_id

SETUP = Path(__file__).resolve().parents[3] / "examples" / "vault-setup" / "setup.py"
TRUST_DOMAIN = "contract.test"


@pytest.fixture
def vault() -> Iterator[VaultServer]:
    server = VaultServer()
    with StandInThread(server, name="vault-setup-cli"):
        yield server


def run(vault: VaultServer, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SETUP), "--vault-addr", vault.url, "--token", vault.root_token, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def signs(vault: VaultServer, creds: dict[str, Any], service: str) -> bool:
    client = hvac.Client(url=vault.url)
    try:
        client.auth.approle.login(creds["role_id"], creds["secret_id"])
        csr, _ = spiffe_csr(spiffe_id(service))
        role = creds["pki_role"].replace("{service}", service)
        try:
            client.secrets.pki.sign_certificate(role, csr, "", mount_point="pki_int")
        except hvac.exceptions.Forbidden:
            return False
        return True
    finally:
        client.adapter.close()


def test_each_host_named_gets_credentials_for_its_own_services(vault: VaultServer) -> None:
    done = run(vault, "--trust-domain", TRUST_DOMAIN, "--host", "vm-web-1=web", "--host", "vm-api-1=api, billing")

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert sorted(out["hosts"]) == ["vm-api-1", "vm-web-1"]
    web, api = out["hosts"]["vm-web-1"], out["hosts"]["vm-api-1"]
    assert web["services"] == ["web"]
    assert api["pki_roles"] == ["mesh-leaf-api", "mesh-leaf-billing"]
    assert out["pki_role"] == web["pki_role"] == "mesh-leaf-{service}"
    assert out["shared"] is None
    assert signs(vault, web, "web")
    assert not signs(vault, web, "api")
    assert signs(vault, api, "billing")
    assert not signs(vault, api, "web")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "vm-1"], "expected NODE=SERVICE"),
        (["--host", "vm-1="], "expected NODE=SERVICE"),
        (["--host", "vm-1=web", "--host", "vm-1=api"], "given twice"),
        (["--host", "vm-1=web/x"], "not a valid service name"),
        (["--pki-role", "mesh-leaf"], "must contain {service}"),
    ],
)
def test_a_bad_command_line_changes_nothing(vault: VaultServer, args: list[str], message: str) -> None:
    done = run(vault, "--trust-domain", TRUST_DOMAIN, *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "pki/" not in vault.state.mounts  # nothing was written
