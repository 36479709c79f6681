"""An Envoy sidecar, configured as Consul Connect configures one, calls a service behind our agent.

Envoy sends Consul's SNI, presents a Vault-signed leaf with its own SPIFFE ID and checks
ours; our agent reads Envoy's identity from that leaf and applies Consul intentions to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Mesh, both_planes
from tests.interop.conftest import ENVOY, NO_ENVOY, EnvoySidecars
from tests.interop.observe import get_through, sample
from tests.support.envoy import Envoy, upstream_cluster, upstream_listener
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(ENVOY is None, reason=NO_ENVOY)]

# Our agent on either data plane, against an Envoy configured as Consul Connect configures it.
plane = both_planes()

SOURCE = "envoy-svc"


@dataclass
class EnvoyClient:
    """api behind our agent on its host; an Envoy sidecar for `envoy-svc` with an upstream to it."""

    agent: Agent
    envoy: Envoy
    host: str
    port: int
    cluster: str

    def call(self) -> dict[str, object] | None:
        return get_through(self.host, self.port, "/from-envoy")


def envoy_calling_api(mesh: Mesh, sidecars: EnvoySidecars, *, expects: str = "api") -> EnvoyClient:
    """Envoy's upstream cluster expects the SPIFFE ID of `expects` from the agent it dials."""
    b_host, envoy_host = mesh.host(), mesh.host()
    app = mesh.app("api", b_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": app, "address": b_host}])
    api = sidecars.identity("api")
    port = free_port(envoy_host)
    envoy = sidecars.start(
        SOURCE,
        listeners=[
            upstream_listener(destination="api", datacenter="dc1", address=envoy_host, port=port, cluster=api.sni)
        ],
        clusters=[
            upstream_cluster(
                sni=api.sni,
                spiffe_id=sidecars.identity(expects).spiffe_id,
                certs=sidecars.certs(SOURCE),
                host=b.host,
                port=b.inbound_port,
            )
        ],
    )
    return EnvoyClient(b, envoy, envoy_host, port, api.sni)


def refusals(agent: Agent) -> list[dict[str, object]]:
    return [e for e in agent.process.log_events() if e.get("event") == "inbound refused"]


def test_envoy_reaches_a_service_behind_our_agent_over_mtls(mesh: Mesh, sidecars: EnvoySidecars, plane: str) -> None:
    client = envoy_calling_api(mesh, sidecars)
    mesh.stack.allow(SOURCE, "api")
    served = wait_until(client.call, 5, what="Envoy -> agent")
    assert served["service"] == "api"
    assert served["path"] == "/from-envoy"
    assert client.envoy.stat(f"cluster.{client.cluster}.ssl.handshake") >= 1
    if plane == "envoy":
        return  # per-connection counts by source are the builtin plane's (docs/data-planes.md)
    # Our agent read Envoy's identity from its Vault-signed leaf.
    metrics = client.agent.metrics()
    assert sample(metrics, "mesh_inbound_connections_total", service="api", source=SOURCE, result="allowed") >= 1


def test_a_deny_intention_on_our_side_refuses_envoy(mesh: Mesh, sidecars: EnvoySidecars, plane: str) -> None:
    client = envoy_calling_api(mesh, sidecars)
    mesh.stack.allow(SOURCE, "api")
    wait_until(client.call, 5, what="Envoy -> agent while allowed")
    mesh.stack.deny(SOURCE, "api")
    wait_until(lambda: client.call() is None, 5, what="the deny to take effect")
    # A connection opened once the deny is in force is refused when Envoy connects.
    assert client.call() is None
    if plane == "envoy":
        return  # the refusal log event is the builtin plane's; Envoy counts it in its RBAC stats
    refused = [e for e in refusals(client.agent) if e.get("source") == SOURCE]
    assert refused
    assert refused[-1]["service"] == "api"


def test_envoy_refuses_our_agent_when_it_is_not_the_identity_envoy_expects(mesh: Mesh, sidecars: EnvoySidecars) -> None:
    client = envoy_calling_api(mesh, sidecars, expects="billing")
    mesh.stack.allow(SOURCE, "api")
    assert client.call() is None
    assert client.envoy.stat(f"cluster.{client.cluster}.ssl.fail_verify_san") >= 1
