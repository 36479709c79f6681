"""The least-privilege Consul token of examples/consul/, with ACLs on and default deny.

The agent runs with exactly the rules of examples/consul/agent-policy.hcl and serves; then, for
each rule, the running agent's policy loses that rule and the agent is made to use it (Consul
loses its registration, an upstream's instances change, a configuration document is written).
Every removal must show up as an error naming the missing permission (Consul's 403 text, or the
agent's refusal of an answer Consul filtered by ACLs), the agent must stay up, and the call it was
carrying must keep working. meshctl gets the same treatment with its read-only and writer policies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import consul
import pytest
import requests

from tests.e2e.conftest import Mesh, Stack, running_stack
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

MANAGEMENT = str(uuid.uuid4())
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "consul"
DOC_KEY = "mesh/config/service-defaults/api"
DOC = '{"Protocol": "http"}'
CONSUL_NODE = "devstack-dc1"  # DevStack's node name for dc1
TIMEOUT = 60.0


def rules_of(name: str, *, node: str) -> list[str]:
    """The example policy's rules, one a line, for an agent on `node` (the example says host-1)."""
    lines = [ln for ln in (EXAMPLES / name).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [ln.replace('node "host-1"', f'node "{node}"').replace('agent "host-1"', f'agent "{CONSUL_NODE}"')
            for ln in lines]  # fmt: skip


class ACL:
    """Policies and tokens, written with the management token."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.info["consul"]
        self.client = consul.Consul(host=stack.devstack.consul.host, port=stack.devstack.consul.port, token=MANAGEMENT)

    def _put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.put(f"{self.url}{path}", json=body, headers={"X-Consul-Token": MANAGEMENT}, timeout=10)
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found

    def policy(self, name: str, rules: list[str]) -> str:
        return str(self._put("/v1/acl/policy", {"Name": name, "Rules": "\n".join(rules)})["ID"])

    def update_policy(self, policy_id: str, name: str, rules: list[str]) -> None:
        self._put(f"/v1/acl/policy/{policy_id}", {"Name": name, "Rules": "\n".join(rules)})

    def token_file(self, directory: Path, policies: list[str]) -> Path:
        secret = self._put("/v1/acl/token", {"Policies": [{"ID": p} for p in policies]})["SecretID"]
        path = directory / f"consul-{uuid.uuid4().hex[:6]}.token"
        path.write_text(secret)
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def acl_stack() -> Iterator[Stack]:
    with running_stack("e2e-consul-acl", acl_management_token=MANAGEMENT) as stack:
        yield stack


@pytest.fixture
def acl(acl_stack: Stack) -> ACL:
    return ACL(acl_stack)


def through(agent: Agent, port: int) -> int | None:
    try:
        return http_get(f"http://{agent.host}:{port}/", timeout=5)[0]
    except OSError:
        return None


def web_calling_api(mesh: Mesh, acl: ACL, tmp: Path, rules: list[str], node: str) -> tuple[Agent, int, str]:
    """api behind a management-token agent; web (the agent under test) with a token of `rules`.
    Returns web, its upstream port and its policy's ID."""
    acl.client.connect.intentions.upsert("web", "api", action="allow")
    acl.client.kv.put(DOC_KEY, DOC)
    b_host, a_host = mesh.host(), mesh.host()
    management = acl.token_file(tmp, ["00000000-0000-0000-0000-000000000001"])
    api_port = mesh.app("api", b_host)
    mesh.agent(
        f"api-{node}",
        b_host,
        [{"name": "api", "port": api_port, "address": b_host}],
        consul={"token_file": str(management)},
    )
    policy_name = f"mesh-agent-{node}"
    policy_id = acl.policy(policy_name, rules)
    port = 15301
    upstream = {"destination_name": "api", "local_bind_port": port, "local_bind_address": a_host}
    web = mesh.agent(
        node,
        a_host,
        [{"name": "web", "port": mesh.app("web", a_host), "address": a_host, "upstreams": [upstream]}],
        consul={"token_file": str(acl.token_file(tmp, [policy_id]))},
    )
    wait_until(lambda: through(web, port) == 200, TIMEOUT, what="web reaching api through the mesh")
    return web, port, policy_id


@pytest.fixture
def acl_mesh(acl_stack: Stack, tmp_path: Path) -> Iterator[Mesh]:
    mesh = Mesh(tmp_path, acl_stack)
    try:
        yield mesh
    finally:
        mesh.close()


def test_the_agent_serves_with_exactly_the_example_policy(acl_mesh: Mesh, acl: ACL, tmp_path: Path) -> None:
    node = f"web-{uuid.uuid4().hex[:6]}"
    web, port, _ = web_calling_api(acl_mesh, acl, tmp_path, rules_of("agent-policy.hcl", node=node), node)
    assert wait_until(lambda: web.status()["errors"] == {}, TIMEOUT, what="no errors in the web agent's status")
    assert "Permission denied" not in web.process.logs()
    assert through(web, port) == 200


def _lose_registration(acl: ACL, node: str) -> None:
    """Consul forgets the agent's host service (as after losing its state): the heartbeat finds its
    check gone and the agent registers everything again, using its write and agent rules."""
    acl.client.agent.service.deregister(f"mesh-agent-{node}")


def _move_api_instances(acl: ACL, node: str) -> None:
    """A new (never passing) api proxy instance: the web agent's watch on api's instances reads again."""
    acl.client.agent.service.register(
        "api-sidecar-proxy",
        service_id=f"api-poke-{node}",
        address="127.0.0.1",
        port=9,
        check={"TTL": "1h"},
        extra_checks=[],
        proxy={"DestinationServiceName": "api"},
        kind="connect-proxy",
    )


def _rewrite_document(acl: ACL, node: str) -> None:
    """The same document spelled differently (Consul skips a write that changes nothing): the KV
    watch reads again."""
    acl.client.kv.put(DOC_KEY, DOC.replace(" ", ""))


def _nothing(acl: ACL, node: str) -> None:
    """The heartbeat (every TTL/4) uses the rule by itself."""


Removal = tuple[str, str, Callable[[ACL, str], None]]
REMOVALS: list[Removal] = [
    ('service "web" ', "lacks permission 'service:write' on \"web\"", _lose_registration),
    ('service "web-sidecar-proxy"', "lacks permission 'service:write' on \"web-sidecar-proxy\"", _lose_registration),
    ('service "mesh-agent"', "lacks permission 'service:write' on \"mesh-agent\"", _nothing),
    ('service_prefix ""', "the token lacks service:read", _move_api_instances),
    ('node_prefix ""', "node:read on its instances' nodes", _move_api_instances),
    ('key_prefix "mesh/config/"', "the token lacks key:read on every key under the prefix", _rewrite_document),
    ('agent "', f"lacks permission 'agent:read' on \"{CONSUL_NODE}\"", _lose_registration),
]


@pytest.mark.parametrize(("rule", "error", "provoke"), REMOVALS, ids=[r[0].strip() for r in REMOVALS])
def test_each_rule_removed_is_named_and_what_served_keeps_serving(
    acl_mesh: Mesh, acl: ACL, tmp_path: Path, rule: str, error: str, provoke: Callable[[ACL, str], None]
) -> None:
    node = f"web-{uuid.uuid4().hex[:6]}"
    rules = rules_of("agent-policy.hcl", node=node)
    web, port, policy_id = web_calling_api(acl_mesh, acl, tmp_path, rules, node)
    reduced = [r for r in rules if not r.startswith(rule)]
    assert len(reduced) == len(rules) - 1, f"{rule!r} is not one rule of the example"
    acl.update_policy(policy_id, f"mesh-agent-{node}", reduced)
    provoke(acl, node)

    def named() -> bool:
        # Log lines and the status are JSON: compare with their quotes unescaped.
        seen = web.process.logs() + json.dumps(web.status())
        return error in seen.replace('\\"', '"')

    try:
        wait_until(named, TIMEOUT, what=f"the agent naming the permission it lost with {rule!r}")
    except AssertionError:
        print(web.process.logs()[-6000:])
        raise
    assert web.process.running
    assert through(web, port) == 200
    assert "Traceback" not in web.process.logs()
    acl.client.agent.service.deregister(f"api-poke-{node}")


# -- meshctl ----------------------------------------------------------------------------------------


def meshctl(stack: Stack, token_file: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mesh.cli.meshctl", "--consul-addr", stack.info["consul"],
         "--token-file", str(token_file), *argv],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_meshctl_reads_with_the_read_policy_and_config_put_needs_key_write(
    acl_stack: Stack, acl: ACL, tmp_path: Path
) -> None:
    acl.client.kv.put(DOC_KEY, DOC)
    acl.client.connect.intentions.upsert("web", "api", action="allow")
    read_rules = rules_of("meshctl-read-policy.hcl", node="")
    reader = acl.token_file(tmp_path, [acl.policy(f"meshctl-read-{uuid.uuid4().hex[:6]}", read_rules)])
    got = meshctl(acl_stack, reader, "config", "get", "service-defaults", "api", "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)
    verdict = meshctl(acl_stack, reader, "intention", "check", "web", "api", "-o", "json")
    assert verdict.returncode == 0, verdict.stderr
    doc = tmp_path / "defaults.json"
    doc.write_text('{"Protocol": "tcp"}')
    refused = meshctl(acl_stack, reader, "config", "put", "service-defaults", "api", str(doc))
    assert refused.returncode != 0
    assert "lacks permission 'key:write' on" in refused.stderr + refused.stdout
    assert acl.client.kv.get(DOC_KEY)[1]["Value"].decode() == DOC
    writer_rules = rules_of("meshctl-config-writer-policy.hcl", node="")
    writer_policy = acl.policy(f"meshctl-write-{uuid.uuid4().hex[:6]}", writer_rules)
    writer = acl.token_file(tmp_path, [acl.policy(f"meshctl-rw-{uuid.uuid4().hex[:6]}", read_rules), writer_policy])
    put = meshctl(acl_stack, writer, "config", "put", "service-defaults", "api", str(doc))
    assert put.returncode == 0, put.stderr
    assert json.loads(acl.client.kv.get(DOC_KEY)[1]["Value"]) == {"Protocol": "tcp"}
    acl.client.kv.put(DOC_KEY, DOC)
