"""The walking skeleton: two hosts' agents, Consul for discovery and intentions, Vault for
certificates, and traffic over mutual TLS allowed or refused by intentions."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from mesh.identity import ServiceIdentity
from tests.e2e.conftest import Mesh, both_planes
from tests.support.pki import make_ca, make_leaf
from tests.support.processes import Agent, http_get, wait_until
from tests.support.tlsclient import ClientCert, mtls_connect, peer_uris, refused, vault_leaf

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()


def through(agent: Agent, port: int, path: str = "/") -> tuple[int, dict[str, Any]] | None:
    """One request through an upstream listener; None when the mesh refused the connection."""
    try:
        code, body = http_get(f"http://{agent.host}:{port}{path}", timeout=5)
    except OSError:
        return None
    return code, json.loads(body)


def two_hosts(mesh: Mesh, *, upstream_port: int = 15001) -> tuple[Agent, Agent, int]:
    """web on host A calls api on host B through A's upstream listener."""
    a_host, b_host = mesh.host(), mesh.host()
    api = mesh.app("api", b_host)
    web = mesh.app("web", a_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": api, "address": b_host}])
    a = mesh.agent(
        "host-a",
        a_host,
        [
            {
                "name": "web",
                "port": web,
                "address": a_host,
                "upstreams": [
                    {"destination_name": "api", "local_bind_port": upstream_port, "local_bind_address": a_host}
                ],
            }
        ],
    )
    return a, b, upstream_port


def test_a_request_reaches_the_remote_app_over_mtls(mesh: Mesh) -> None:
    a, _b, port = two_hosts(mesh)
    mesh.stack.allow("web", "api")
    result = wait_until(lambda: through(a, port, "/hello"), 5, what="request through the mesh")
    assert result[0] == 200
    assert result[1]["service"] == "api"
    assert result[1]["path"] == "/hello"


def test_the_destination_presents_its_consul_spiffe_identity(mesh: Mesh, tmp_path: Path) -> None:
    _, b, _ = two_hosts(mesh)
    info = mesh.stack.info
    td = info["trust_domain"]
    cert = vault_leaf(mesh.stack.vault(), tmp_path, ServiceIdentity(td, "dc1", "web"))
    with mtls_connect(
        b.host, b.inbound_port, service="api", trust_domain=td, bundle_pem=cert.bundle_pem, cert=cert
    ) as s:
        assert peer_uris(s) == [f"spiffe://{td}/ns/default/dc/dc1/svc/api"]


@pytest.mark.parametrize(
    "plane", ["builtin"]
)  # reads the builtin plane's refusal log events; Envoy's RBAC denial is covered by tests/e2e/envoy
def test_default_deny_refuses_until_an_allow_intention_is_written(mesh: Mesh) -> None:
    a, b, port = two_hosts(mesh)
    assert through(a, port) is None
    refusals = [e for e in b.process.log_events() if e.get("event") == "inbound refused"]
    assert refusals
    assert refusals[-1]["source"] == "web"
    assert "default deny" in refusals[-1]["reason"]
    mesh.stack.allow("web", "api")
    written = time.monotonic()
    wait_until(lambda: through(a, port), 1.0, interval=0.02, what="allow intention to take effect")
    assert time.monotonic() - written < 1.0


def test_a_deny_intention_beats_a_wildcard_allow(mesh: Mesh) -> None:
    a, _, port = two_hosts(mesh)
    mesh.stack.allow("*", "api")
    wait_until(lambda: through(a, port), 2, what="wildcard allow")
    mesh.stack.deny("web", "api")
    wait_until(lambda: through(a, port) is None, 2, what="exact deny to win")


def _client(mesh: Mesh, b: Agent, cert: ClientCert | None, bundle: str) -> ssl.SSLSocket:
    return mtls_connect(
        b.host,
        b.inbound_port,
        service="api",
        trust_domain=mesh.stack.info["trust_domain"],
        bundle_pem=bundle,
        cert=cert,
    )


@pytest.mark.parametrize(
    "plane", ["builtin"]
)  # reads the builtin plane's handshake log events; Envoy's refusals are in its own stats
def test_clients_from_another_ca_or_without_a_certificate_are_refused(mesh: Mesh, tmp_path: Path) -> None:
    _, b, _ = two_hosts(mesh)
    mesh.stack.allow("*", "api")
    td = mesh.stack.info["trust_domain"]
    good = vault_leaf(mesh.stack.vault(), tmp_path, ServiceIdentity(td, "dc1", "web"))
    with _client(mesh, b, good, good.bundle_pem) as s:
        assert not refused(s)

    rogue_ca = make_ca("Rogue CA")
    rogue = make_leaf(rogue_ca, [ServiceIdentity(td, "dc1", "web").spiffe_id])
    (tmp_path / "rogue.crt").write_text(rogue.cert_pem)
    (tmp_path / "rogue.key").write_text(rogue.key_pem)
    rogue_cert = ClientCert(str(tmp_path / "rogue.crt"), str(tmp_path / "rogue.key"), good.bundle_pem)
    for cert in (rogue_cert, None):
        try:
            with _client(mesh, b, cert, good.bundle_pem) as s:
                assert refused(s)
        except (ssl.SSLError, OSError):
            pass  # refused during the handshake

    def reasons() -> list[str]:
        events = b.process.log_events()
        return [str(e["reason"]) for e in events if e.get("event") == "inbound TLS handshake refused"]

    logged = wait_until(lambda: len(reasons()) >= 2 and reasons(), 5, what="both refusals logged")
    assert "unable_to_get_local_issuer_certificate" in logged[0]
    assert "certificate" in logged[1]


@pytest.mark.parametrize("plane", ["builtin"])  # reads mesh_tls_refusals_total, a builtin plane metric
def test_plaintext_is_refused_in_strict_mode(mesh: Mesh) -> None:
    _, b, _ = two_hosts(mesh)
    mesh.stack.allow("*", "api")
    with socket.create_connection((b.host, b.inbound_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        # Closed with the request unread: EOF, or a reset from the kernel.
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(100) == b""
    assert 'mesh_tls_refusals_total{listener="inbound",reason="plaintext"} 1.0' in b.metrics()


def test_a_stopped_destination_stops_being_dialed_and_traffic_moves_to_the_healthy_one(mesh: Mesh) -> None:
    a, b, port = two_hosts(mesh)
    c_host = mesh.host()
    api2 = mesh.app("api", c_host, instance="api-c")
    mesh.agent("host-c", c_host, [{"name": "api", "port": api2, "address": c_host}])
    mesh.stack.allow("web", "api")
    wait_until(lambda: len(a.status()["endpoints"].get("api@dc1", [])) == 2, 5, what="two endpoints")
    assert b.process.stop() == 0
    consul = mesh.stack.consul()
    wait_until(lambda: len(consul.health.connect("api")[1]) == 1, 5, what="B gone from Consul")
    wait_until(lambda: len(a.status()["endpoints"]["api@dc1"]) == 1, 5, what="A to drop B")
    served = {through(a, port)[1]["instance"] for _ in range(10)}  # type: ignore[index]
    assert served == {"api-c"}


def test_a_killed_agent_goes_critical_in_consul_and_clients_fail_over_meanwhile(mesh: Mesh, plane: str) -> None:
    a, b, port = two_hosts(mesh)
    c_host = mesh.host()
    api2 = mesh.app("api", c_host, instance="api-c")
    mesh.agent("host-c", c_host, [{"name": "api", "port": api2, "address": c_host}])
    mesh.stack.allow("web", "api")
    wait_until(lambda: len(a.status()["endpoints"].get("api@dc1", [])) == 2, 5, what="two endpoints")
    envoy_pid = b.status()["envoy"]["process"]["pid"] if plane == "envoy" else None
    b.process.send(signal.SIGKILL)
    if envoy_pid is not None:
        # The kernel kills B's Envoy with its agent (PDEATHSIG); a connection it accepted while dying
        # is reset, not refused, and cannot move to C: count from when it is gone.
        wait_until(lambda: not _alive(envoy_pid), 10, what="B's Envoy gone with its agent")
    # Until the liveness TTL expires, a dial to B fails and the next endpoint is used.
    assert all(through(a, port) is not None for _ in range(6))
    consul = mesh.stack.consul()

    def b_critical() -> bool:
        entries = consul.health.connect("api")[1]
        statuses = {e["Service"]["Address"]: [c["Status"] for c in e["Checks"]] for e in entries}
        return "critical" in statuses.get(b.host, [])

    wait_until(b_critical, 15, interval=0.2, what="B's liveness TTL to expire")
    wait_until(lambda: len(a.status()["endpoints"]["api@dc1"]) == 1, 5, what="A to drop B")


def test_agents_reregister_after_consul_loses_its_state(mesh: Mesh) -> None:
    a, b, port = two_hosts(mesh)
    mesh.stack.allow("web", "api")
    wait_until(lambda: through(a, port), 5, what="traffic")
    mesh.stack.stop_consul()
    # While Consul is down, known endpoints keep working.
    for _ in range(5):
        assert through(a, port) is not None
    mesh.stack.start_consul(lose_state=True)
    mesh.stack.allow("web", "api")  # intentions lived in the lost state too
    consul = mesh.stack.consul()
    wait_until(lambda: {"api", "web"} <= set(consul.catalog.services()[1]), 10, what="re-registration")
    wait_until(lambda: through(a, port), 10, what="traffic to resume")
    assert a.ready()
    assert b.ready()


@pytest.mark.parametrize(
    "plane", ["builtin"]
)  # the builtin plane binds at start-up; Envoy reports a taken port as a rejected listener (docs/envoy.md)
def test_a_taken_port_stops_the_agent_with_a_clear_error(mesh: Mesh) -> None:
    host = mesh.host()
    api = mesh.app("api", host)
    with socket.socket() as squatter:
        squatter.bind((host, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        agent = mesh.agent(
            "host-x",
            host,
            [{"name": "api", "port": api, "address": host}],
            ready=False,
            inbound={"listen": f"{host}:{taken}"},
        )
        assert agent.process.proc is not None
        assert agent.process.proc.wait(20) == 1
    errors = [e for e in agent.process.log_events() if e.get("event") == "cannot start"]
    assert errors
    assert f"cannot bind the inbound listener {host}:{taken}" in errors[0]["error"]
    assert "Traceback" not in agent.process.logs()


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie (an orphan's reaping depends on what PID 1 is)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
