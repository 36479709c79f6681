"""The devstack composition: Vault bootstrapped by the real setup code, Consul's roots following Vault's."""

import json
import subprocess
import sys
from collections.abc import Iterator

import consul
import hvac
import hvac.exceptions
import pytest

from mesh.devstack import DevStack
from mesh.devstack.threaded import StandInThread
from mesh.identity import ServiceIdentity
from tests.contract.vault.leaves import spiffe_csr


@pytest.fixture
def running() -> Iterator[tuple[DevStack, StandInThread]]:
    stack = DevStack()
    thread = StandInThread()
    thread.start()
    thread.run(stack.start())
    yield stack, thread
    thread.run(stack.stop())
    thread.stop()


def roots(stack: DevStack) -> dict[str, object]:
    c = consul.Consul(host=stack.consul.host, port=stack.consul.port)
    answer: dict[str, object] = c.http.get(lambda r: json.loads(r.body), "/v1/connect/ca/roots")
    return answer


def test_consul_publishes_vaults_roots_and_the_trust_domain(running: tuple[DevStack, StandInThread]) -> None:
    stack, _ = running
    answer = roots(stack)
    assert answer["TrustDomain"] == stack.trust_domain
    assert stack.trust_domain.endswith(".consul")
    assert len(answer["Roots"]) == 1  # type: ignore[arg-type]


def test_a_root_rotation_with_a_consul_trust_domain_overlaps_then_retires_the_old_root(
    running: tuple[DevStack, StandInThread],
) -> None:
    stack, thread = running
    thread.call(stack.rotate_root)
    assert len(roots(stack)["Roots"]) == 2  # type: ignore[arg-type]
    thread.call(stack.end_root_overlap)
    assert len(roots(stack)["Roots"]) == 1  # type: ignore[arg-type]


def test_the_command_prints_one_ready_line_with_the_contract_fields() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh.devstack", "--consul-port", "0", "--vault-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stdout is not None
        proc.stdout.close()
    for field in (
        "consul",
        "vault",
        "vault_token",
        "pki_path",
        "pki_role",
        "trust_domain",
        "approle_role_id",
        "approle_secret_id",
    ):
        assert info[field], field


def test_hosts_named_on_the_command_line_get_their_own_credentials_signing_only_their_services() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh.devstack", "--consul-port", "0", "--vault-port", "0", "--provision", "vm-1=web"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        creds = info["hosts"]["vm-1"]
        assert creds["services"] == ["web"]
        assert creds["pki_role"] == "mesh-leaf-{service}"
        client = hvac.Client(url=info["vault"])
        client.auth.approle.login(creds["role_id"], creds["secret_id"])
        for service, allowed in (("web", True), ("api", False)):
            csr, _ = spiffe_csr(ServiceIdentity(info["trust_domain"], "dc1", service).spiffe_id)
            role = creds["pki_role"].replace("{service}", service)
            try:
                client.secrets.pki.sign_certificate(role, csr, service, mount_point=info["pki_path"])
            except hvac.exceptions.Forbidden:
                assert not allowed, service
            else:
                assert allowed, service
        client.adapter.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stdout is not None
        proc.stdout.close()


def test_the_acl_default_policy_reaches_every_datacenters_consul() -> None:
    stack = DevStack(datacenters=("dc1", "dc2"), acl_management_token="t", acl_default_policy="allow")
    assert {dc: s.store.acl.default_policy for dc, s in stack.consuls.items()} == {"dc1": "allow", "dc2": "allow"}
    assert DevStack(acl_management_token="t").consul.store.acl.default_policy == "deny"
    assert DevStack().consul.store.acl.default_policy == "allow"  # ACLs off: Consul reports allow
