"""Zero trust end to end: every bad peer certificate refused with its reason, TLS versions,
the outbound's check of the server's identity, permissive mTLS, intentions turning to deny
on open connections, and secrets kept out of every output."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.runtime import INTENTIONS_RECHECK_INTERVAL
from mesh.identity import ServiceIdentity
from tests.e2e.conftest import Mesh, both_planes, running_stack
from tests.support.pki import Issued, make_ca, make_leaf, spiffe, stand_in_issuer
from tests.support.processes import Agent, http_get, wait_until
from tests.support.scrape import sample
from tests.support.tlsclient import TLS_1_1, ClientCert, issued_cert, mtls_connect, refused, vault_leaf

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()

IMPOSTOR_UPSTREAM_PORT = 15201


@dataclass
class Estate:
    """B serves api (strict mTLS); A's web has an upstream `payments` that an impostor answers."""

    mesh: Mesh
    a: Agent
    b: Agent
    td: str
    good: ClientCert
    intermediate: Issued

    def connect(self, cert: ClientCert | None, **kwargs: Any) -> ssl.SSLSocket:
        return mtls_connect(
            self.b.host,
            self.b.inbound_port,
            service="api",
            trust_domain=self.td,
            bundle_pem=self.good.bundle_pem,
            cert=cert,
            **kwargs,
        )


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    tmp = tmp_path_factory.mktemp("zero-trust")
    with running_stack("e2e-zero-trust") as stack:
        mesh = Mesh(tmp, stack)
        try:
            b_host, a_host = mesh.host(), mesh.host()
            b = mesh.agent("host-b", b_host, [{"name": "api", "port": mesh.app("api", b_host), "address": b_host}])
            upstream = {
                "destination_name": "payments",
                "local_bind_port": IMPOSTOR_UPSTREAM_PORT,
                "local_bind_address": a_host,
            }
            web = {"name": "web", "port": mesh.app("web", a_host), "address": a_host, "upstreams": [upstream]}
            a = mesh.agent("host-a", a_host, [web])
            stack.allow("*", "api")
            td = stack.devstack.trust_domain
            good = vault_leaf(stack.vault(), tmp, ServiceIdentity(td, "dc1", "web"))
            e = Estate(mesh, a, b, td, good, stand_in_issuer(stack.devstack.vault))
            wait_until(lambda: not attempt(e, good), 2, interval=0.1, what="the allow intention to reach B")
            yield e
        finally:
            mesh.close()


def refusal_reasons(agent: Agent, since: int) -> list[str]:
    events = agent.process.log_events()[since:]
    wanted = ("inbound refused", "inbound TLS handshake refused")
    return [str(ev.get("reason")) for ev in events if ev.get("event") in wanted]


def attempt(e: Estate, cert: ClientCert | None) -> bool:
    """True when B refused the connection (during the handshake or right after it)."""
    try:
        with e.connect(cert) as s:
            return refused(s)
    except (ssl.SSLError, OSError):
        return True


NOW = dt.datetime.now(dt.UTC)
HOUR = dt.timedelta(hours=1)

# name -> (how to make the client's leaf, the reason B must log). `None`: no certificate at all.
CASES: dict[str, tuple[Callable[[Issued, str], tuple[Issued, list[Issued]]] | None, str]] = {
    "untrusted CA": (lambda ca, td: _rogue(td), "unable_to_get_local_issuer_certificate"),
    "expired": (
        lambda ca, td: (make_leaf(ca, [spiffe("web", td)], not_before=NOW - 2 * HOUR, not_after=NOW - HOUR), [ca]),
        "certificate_has_expired",
    ),
    "not yet valid": (
        lambda ca, td: (make_leaf(ca, [spiffe("web", td)], not_before=NOW + HOUR, not_after=NOW + 2 * HOUR), [ca]),
        "certificate_is_not_yet_valid",
    ),
    "wrong trust domain": (lambda ca, td: (make_leaf(ca, [spiffe("web", "other.consul")]), [ca]), "wrong_trust_domain"),
    "leaf with CA=true": (lambda ca, td: (make_leaf(ca, [spiffe("web", td)], is_ca=True), [ca]), "leaf_is_ca"),
    "leaf with keyCertSign": (
        lambda ca, td: (make_leaf(ca, [spiffe("web", td)], key_cert_sign=True), [ca]),
        "leaf_can_sign_certificates",
    ),
    "two URI SANs": (lambda ca, td: (make_leaf(ca, [spiffe("web", td), spiffe("db", td)]), [ca]), "uri_san_count"),
    "a non-SPIFFE URI": (lambda ca, td: (make_leaf(ca, ["https://web.example.com/"]), [ca]), "not_spiffe"),
    "no client certificate": (None, "peer_did_not_return_a_certificate"),
}


def _rogue(td: str) -> tuple[Issued, list[Issued]]:
    rogue = make_ca("Rogue CA")
    return make_leaf(rogue, [spiffe("web", td)]), []


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_client_certificate_is_refused_with_a_log_line_naming_the_reason(
    estate: Estate, case: str, tmp_path: Path
) -> None:
    e = estate
    make, reason = CASES[case]
    cert = None
    if make is not None:
        leaf, chain = make(e.intermediate, e.td)
        cert = issued_cert(tmp_path, "client", leaf, chain, e.good.bundle_pem)
    since = len(e.b.process.log_events())
    assert attempt(e, cert)
    logged = wait_until(lambda: refusal_reasons(e.b, since), 5, what=f"B to log why it refused ({case})")
    assert logged == [reason]


def test_a_good_client_certificate_is_accepted(estate: Estate) -> None:
    assert not attempt(estate, estate.good)


def test_tls_1_3_is_negotiated_when_the_client_speaks_it(estate: Estate) -> None:
    with estate.connect(estate.good) as s:
        assert s.version() == "TLSv1.3"


def test_tls_1_2_is_still_accepted(estate: Estate) -> None:
    with estate.connect(estate.good, max_version=ssl.TLSVersion.TLSv1_2) as s:
        assert s.version() == "TLSv1.2"
        assert not refused(s)


def test_a_tls_1_1_client_is_refused(estate: Estate) -> None:
    e = estate
    since = len(e.b.process.log_events())
    with pytest.raises(ssl.SSLError), e.connect(e.good, max_version=TLS_1_1):
        pass
    logged = wait_until(lambda: refusal_reasons(e.b, since), 5, what="B to log the refused TLS 1.1 handshake")
    assert logged == ["unsupported_protocol"]


class Impostor:
    """A TLS server that answers with a valid mesh certificate of the wrong service."""

    def __init__(self, host: str, cert: ClientCert) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert.cert_file, cert.key_file)
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with contextlib.suppress(OSError), self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(2)
                while data := tls.recv(1024):
                    self.received += data

    def close(self) -> None:
        self.sock.close()


def test_the_outbound_refuses_a_server_presenting_another_services_certificate(estate: Estate, tmp_path: Path) -> None:
    e = estate
    api_cert = vault_leaf(e.mesh.stack.vault(), tmp_path, ServiceIdentity(e.td, "dc1", "api"))
    impostor = Impostor(e.a.host, api_cert)
    try:
        e.mesh.stack.consul().agent.service.register(
            "payments-sidecar-proxy",
            service_id="payments-impostor",
            address=e.a.host,
            port=impostor.port,
            extra_checks=[],
            kind="connect-proxy",  # type: ignore[call-arg]
            proxy={"DestinationServiceName": "payments", "DestinationServiceID": "payments-1"},
        )
        wait_until(lambda: e.a.status()["endpoints"].get("payments@dc1"), 5, what="A to learn the impostor")
        since = len(e.a.process.log_events())
        with socket.create_connection((e.a.host, IMPOSTOR_UPSTREAM_PORT), timeout=5) as s:
            s.sendall(b"GET /secret HTTP/1.1\r\nHost: payments\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(100) == b""
        events = e.a.process.log_events()[since:]
        reasons = [str(ev["reason"]) for ev in events if ev.get("event") == "dial failed"]
        assert reasons
        assert all(r.startswith("wrong_service") for r in reasons)
        assert "expected service 'payments', peer is 'api'" in reasons[0]
        assert impostor.accepted >= 1
        assert impostor.received == b""  # not one byte of the request reached it
        assert sample(e.a.metrics(), "mesh_tls_refusals_total", listener="outbound", reason="wrong_service") >= 1
    finally:
        impostor.close()


# -- permissive mTLS ------------------------------------------------------------------------


def plaintext_get(agent: Agent) -> int | None:
    """A plain HTTP request straight to the agent's inbound port; None when it was refused."""
    try:
        return http_get(f"http://{agent.host}:{agent.inbound_port}/", timeout=3)[0]
    except (OSError, http.client.HTTPException):
        return None


def test_a_permissive_host_accepts_plaintext_and_counts_it(mesh: Mesh, plane: str) -> None:
    host = mesh.host()
    api = mesh.app("api", host)
    b = mesh.agent("host-p", host, [{"name": "api", "port": api, "address": host}], inbound={"mtls_mode": "permissive"})
    mesh.stack.allow("*", "api")
    wait_until(lambda: plaintext_get(b) == 200, 2, interval=0.1, what="plaintext to reach api once allowed")
    if plane == "envoy":
        return  # the count and the log event are the builtin plane's (docs/envoy.md, differences)
    assert sample(b.metrics(), "mesh_plaintext_inbound_connections_total", service="api") >= 1
    assert any(ev.get("event") == "plaintext connection accepted (permissive mTLS)" for ev in b.process.log_events())


def test_service_defaults_mutual_tls_mode_turns_plaintext_on_and_off_for_one_service(mesh: Mesh, plane: str) -> None:
    host = mesh.host()
    services = [
        {"name": "api", "port": mesh.app("api", host), "address": host, "protocol": "http"},
        {"name": "store", "port": mesh.app("store", host, tcp=True), "address": host},
    ]
    b = mesh.agent("host-s", host, services)  # the host is strict
    mesh.stack.allow("*", "api")
    kv = mesh.stack.consul().kv
    assert plaintext_get(b) is None

    assert kv.put("mesh/config/service-defaults/api", json.dumps({"MutualTLSMode": "permissive"}))
    wait_until(lambda: plaintext_get(b) == 200, 3, interval=0.1, what="api to accept plaintext")
    if plane == "builtin":  # a builtin plane metric (docs/envoy.md, differences)
        assert sample(b.metrics(), "mesh_plaintext_inbound_connections_total", service="api") >= 1

    assert kv.put("mesh/config/service-defaults/api", json.dumps({"MutualTLSMode": "strict"}))
    wait_until(lambda: plaintext_get(b) is None, 3, interval=0.1, what="api to refuse plaintext again")
    if plane == "builtin":
        assert sample(b.metrics(), "mesh_tls_refusals_total", listener="inbound", reason="plaintext") >= 2


# -- intentions changing to deny ------------------------------------------------------------


def echo_once(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"ping\n")
            return s.recv(5) == b"ping\n"
    except OSError:
        return False


def test_a_deny_refuses_new_connections_within_a_second_and_closes_open_ones(mesh: Mesh, plane: str) -> None:
    a_host, b_host = mesh.host(), mesh.host()
    store = mesh.app("store", b_host, tcp=True)
    b = mesh.agent("host-b", b_host, [{"name": "store", "port": store, "address": b_host}])
    upstream = {"destination_name": "store", "local_bind_port": 15301, "local_bind_address": a_host}
    mesh.agent(
        "host-a", a_host, [{"name": "web", "port": mesh.app("web", a_host), "address": a_host, "upstreams": [upstream]}]
    )
    mesh.stack.allow("web", "store")
    wait_until(lambda: echo_once(a_host, 15301), 5, what="web to reach store")
    open_conn = socket.create_connection((a_host, 15301), timeout=10)
    open_conn.sendall(b"before\n")
    assert open_conn.recv(7) == b"before\n"

    mesh.stack.deny("web", "store")
    written = time.monotonic()
    wait_until(lambda: not echo_once(a_host, 15301), 1.0, interval=0.02, what="new connections to be refused")
    assert time.monotonic() - written < 1.0

    def closed() -> bool:
        try:
            return open_conn.recv(1) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    open_conn.settimeout(0.1)
    wait_until(closed, INTENTIONS_RECHECK_INTERVAL + 1, interval=0.05, what="the open connection to be closed")
    open_conn.close()
    if plane == "envoy":
        return  # Envoy closes it by draining the filter chain: no such log event or metric (docs/envoy.md)
    closes = [ev for ev in b.process.log_events() if ev.get("event") == "open connection closed by intention change"]
    # The long-lived one, and any earlier short ones still draining on B's side.
    assert closes
    assert {(ev["service"], ev["source"]) for ev in closes} == {("store", "web")}
    assert sample(b.metrics(), "mesh_connections_closed_by_policy_total", service="store", source="web") == len(closes)


# -- secrets --------------------------------------------------------------------------------


def test_tokens_and_private_keys_never_appear_in_logs_metrics_or_status(tmp_path: Path) -> None:
    """A debug-level agent goes through login, renewals, rotations, a sealed Vault and a revoked
    token; none of the credentials it handled shows up anywhere it writes or answers."""
    consul_token = str(uuid.uuid4())
    with running_stack("e2e-zero-trust", acl_management_token=consul_token) as stack:
        mesh = Mesh(tmp_path, stack)
        try:
            root = stack.vault()
            root.auth.approle.create_or_update_approle("mesh-agent", token_ttl="4s", token_max_ttl="1h")
            token_file = tmp_path / "consul.token"
            token_file.write_text(consul_token)
            token_file.chmod(0o600)
            host = mesh.host()
            agent = mesh.agent(
                "host-s",
                host,
                [{"name": "api", "port": mesh.app("api", host), "address": host}],
                consul={"token_file": str(token_file)},
                vault={"cert_ttl": "10s"},
                log_level="debug",
            )
            vault = stack.devstack.vault
            vault_tokens: set[str] = set()
            keys: set[str] = set()
            key_file = Path(agent.config["state_dir"]) / "certs" / "api.key"

            def current_token() -> str | None:
                lease = agent.status()["certificates"]["vault"]["token"]
                if lease is None:  # between a refused token and the next login
                    return None
                token = stack.thread.call(lambda: vault.state.tokens.by_accessor(lease["accessor"]))
                return None if token is None else token.id

            def collect() -> None:
                token = current_token()
                if token is not None:
                    vault_tokens.add(token)
                keys.add(key_file.read_text())

            def run_for(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    collect()
                    time.sleep(0.2)

            run_for(3)
            vault.seal()
            run_for(2.5)
            stack.thread.call(vault.unseal)
            run_for(1)
            token = wait_until(current_token, 5, what="the agent's token after the outage")
            root.auth.token.revoke(token)  # its next renewal is refused: a new login
            run_for(8)

            metrics = agent.metrics()
            assert sample(metrics, "mesh_vault_requests_total", operation="login", result="ok") >= 2
            assert sample(metrics, "mesh_vault_requests_total", operation="renew-self", result="ok") >= 1
            # The revoked token was refused (on its renewal or on a sign, whichever came first).
            assert sample(metrics, "mesh_vault_requests_total", result="refused") >= 1
            assert sample(metrics, "mesh_vault_requests_total", result="unavailable") >= 1
            assert sample(metrics, "mesh_leaf_cert_rotations_total", service="api", result="success") >= 2
            outputs = {
                "log": agent.process.logs(),
                "metrics": metrics,
                "status": json.dumps(agent.status()),
                "ready": http_get(f"{agent.admin}/ready")[1].decode(),
            }
        finally:
            mesh.close()
    outputs["log"] = agent.process.logs()  # shutdown included
    secrets = {"consul token": consul_token, "approle secret_id": stack.info["approle_secret_id"]}
    secrets |= {f"vault token {i}": t for i, t in enumerate(sorted(vault_tokens))}
    for i, pem in enumerate(sorted(keys)):
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        secrets |= {f"private key {i} line {j}": line for j, line in enumerate(body)}
    assert len(vault_tokens) >= 2
    assert len(keys) >= 2
    assert "debug" in {ev.get("level") for ev in agent.process.log_events()}
    leaks = [(what, where) for what, value in secrets.items() for where, text in outputs.items() if value in text]
    assert leaks == []
