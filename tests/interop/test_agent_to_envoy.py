"""Our agent calls a service meshed by Consul Connect with an Envoy sidecar.

Envoy is registered in Consul as the service's `connect-proxy`, as `consul connect envoy
-sidecar-for` leaves it; our agent discovers it through `/v1/health/connect/<service>` like
any other endpoint, sends Consul's SNI (Envoy's filter chain matches only that name),
presents its Vault-signed leaf (Envoy's RBAC checks its SPIFFE ID) and checks that Envoy's
leaf names the service it meant.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Mesh, both_planes
from tests.interop.conftest import ENVOY, NO_ENVOY, EnvoySidecars
from tests.interop.observe import get_through
from tests.support.envoy import Envoy, local_app_cluster, public_listener
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(ENVOY is None, reason=NO_ENVOY)]

# Our agent on either data plane, against an Envoy configured as Consul Connect configures it.
plane = both_planes()

DESTINATION = "legacy"


@dataclass
class EnvoyServer:
    """`legacy` meshed by an Envoy sidecar; `web` behind our agent with an upstream to it."""

    agent: Agent
    envoy: Envoy
    upstream_port: int

    def call(self) -> dict[str, object] | None:
        return get_through(self.agent.host, self.upstream_port, "/from-agent")

    def dial_failures(self) -> list[dict[str, object]]:
        return [e for e in self.agent.process.log_events() if e.get("event") == "dial failed"]


def agent_calling_envoy(
    mesh: Mesh, sidecars: EnvoySidecars, *, presents: str = DESTINATION, allows: str = "web"
) -> EnvoyServer:
    """Envoy presents a leaf for `presents` and its RBAC admits only `allows`."""
    envoy_host, a_host = mesh.host(), mesh.host()
    app = mesh.app(DESTINATION, envoy_host)
    public = free_port(envoy_host)
    envoy = sidecars.start(
        DESTINATION,
        listeners=[
            public_listener(
                address=envoy_host,
                port=public,
                sni=sidecars.identity(DESTINATION).sni,
                certs=sidecars.certs(presents),
                allowed_sources=[sidecars.identity(allows).spiffe_id],
            )
        ],
        clusters=[local_app_cluster(envoy_host, app)],
    )
    register_consul_sidecar(mesh, envoy_host, app_port=app, public_port=public)
    upstream_port = free_port(a_host)
    a = mesh.agent(
        "host-a",
        a_host,
        [
            {
                "name": "web",
                "port": mesh.app("web", a_host),
                "address": a_host,
                "upstreams": [
                    {"destination_name": DESTINATION, "local_bind_port": upstream_port, "local_bind_address": a_host}
                ],
            }
        ],
    )
    return EnvoyServer(a, envoy, upstream_port)


def register_consul_sidecar(mesh: Mesh, host: str, *, app_port: int, public_port: int) -> None:
    """What `consul services register` of a service with `connect { sidecar_service {} }` creates."""
    agent = mesh.stack.consul().agent
    assert agent.service.register(DESTINATION, service_id=f"{DESTINATION}-1", address=host, port=app_port)
    assert agent.service.register(
        f"{DESTINATION}-sidecar-proxy",
        service_id=f"{DESTINATION}-1-sidecar-proxy",
        address=host,
        port=public_port,
        kind="connect-proxy",
        proxy={
            "DestinationServiceName": DESTINATION,
            "DestinationServiceID": f"{DESTINATION}-1",
            "LocalServiceAddress": host,
            "LocalServicePort": app_port,
        },
    )


def test_our_agent_reaches_a_service_behind_an_envoy_sidecar(mesh: Mesh, sidecars: EnvoySidecars) -> None:
    server = agent_calling_envoy(mesh, sidecars)
    served = wait_until(server.call, 5, what="agent -> Envoy")
    assert served["service"] == DESTINATION
    assert served["path"] == "/from-agent"
    # Envoy authenticated our agent's SPIFFE ID and its RBAC admitted it.
    assert server.envoy.stat("connect_authz.rbac.allowed") >= 1


def test_envoy_refuses_our_agent_when_its_rbac_does_not_admit_the_source(mesh: Mesh, sidecars: EnvoySidecars) -> None:
    server = agent_calling_envoy(mesh, sidecars, allows="billing")
    wait_until(lambda: server.agent.status()["endpoints"].get(f"{DESTINATION}@dc1"), 5, what="Envoy discovered")
    assert server.call() is None
    assert server.envoy.stat("connect_authz.rbac.denied") >= 1


def test_our_agent_refuses_an_envoy_presenting_another_services_identity(
    mesh: Mesh, sidecars: EnvoySidecars, plane: str
) -> None:
    server = agent_calling_envoy(mesh, sidecars, presents="impostor")
    wait_until(lambda: server.agent.status()["endpoints"].get(f"{DESTINATION}@dc1"), 5, what="Envoy discovered")
    assert server.call() is None
    if plane == "envoy":
        return  # Envoy refuses it by its SAN match (cluster ssl.fail_verify_san); no builtin dial log
    failures = wait_until(server.dial_failures, 5, what="the dial failure logged")
    assert "impostor" in str(failures[-1]["reason"])
