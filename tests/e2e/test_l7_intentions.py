"""L7 intentions end to end: Consul `Permissions` enforced per request by api's agent.

As in real Consul, L7 permissions need the destination's protocol to be http in Consul's own
`service-defaults` config entry; the intention is the `service-intentions` config entry the
Consul UI edits.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesh.identity import ServiceIdentity
from tests.e2e.conftest import ALLOW_ALL, NO_DELETE_ADMIN, Mesh, both_planes, running_stack
from tests.support.processes import Agent, http_call, http_get, wait_until
from tests.support.tlsclient import ClientCert, mtls_connect, vault_leaf

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()


@dataclass
class Hosts:
    mesh: Mesh
    web: Agent
    api: Agent
    port: int
    app_url: str
    web_cert: ClientCert  # to talk to api's inbound listener directly, as web's agent does

    def permissions(self, permissions: list[dict[str, Any]]) -> None:
        entry = {"Sources": [{"Name": "web", "Permissions": permissions}]}
        assert self.mesh.stack.consul().config.set("service-intentions", "api", entry)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.web.host, self.port, timeout=5)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        return http_call(self.web.host, self.port, method, path, body)

    def inbound(self) -> ssl.SSLSocket:
        td = self.mesh.stack.info["trust_domain"]
        cert = self.web_cert
        return mtls_connect(
            self.api.host, self.api.inbound_port, service="api", trust_domain=td, bundle_pem=cert.bundle_pem, cert=cert
        )

    def app_requests(self) -> int:
        return int(json.loads(http_get(f"{self.app_url}/_control/stats")[1])["requests"])


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with running_stack("l7-intentions") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("l7-intentions")), stack)
        try:
            a_host, b_host = mesh.host(), mesh.host()
            api_port = mesh.app("api", b_host)
            api = mesh.agent(
                "host-b", b_host, [{"name": "api", "port": api_port, "address": b_host, "protocol": "http"}]
            )
            web, port = mesh.web_calling_api("host-a", a_host)
            assert mesh.stack.consul().config.set("service-defaults", "api", {"Protocol": "http"})
            td = mesh.stack.info["trust_domain"]
            cert = vault_leaf(mesh.stack.vault(), mesh.tmp, ServiceIdentity(td, "dc1", "web"))
            yield Hosts(mesh, web, api, port, f"http://{b_host}:{api_port}", cert)
        finally:
            mesh.close()


def test_a_permission_denies_delete_admin_from_web_while_get_succeeds(hosts: Hosts) -> None:
    hosts.permissions(NO_DELETE_ADMIN)
    wait_until(lambda: hosts.call("DELETE", "/admin")[0] == 403, 5, what="the L7 intention in force")
    served = hosts.app_requests()

    status, headers, body = hosts.call("DELETE", "/admin/users/1")
    assert status == 403
    assert "permission[0] deny" in headers["x-mesh-denied"]
    assert body == b"403 Forbidden\n"
    assert hosts.call("GET", "/")[0] == 200
    assert hosts.call("GET", "/admin")[0] == 200
    assert hosts.call("DELETE", "/orders/7")[0] == 200
    assert hosts.app_requests() == served + 3  # the refused requests never reached the app

    def denied_lines() -> list[dict[str, Any]]:
        return [e for e in hosts.api.process.log_events() if e.get("event") == "request denied"]

    line = wait_until(lambda: denied_lines(), 5, what="the refusal logged")[-1]
    assert (line["source"], line["destination"]) == ("web", "api")
    assert (line["method"], line["path"]) == ("DELETE", "/admin/users/1")
    assert "permission[0] deny" in line["reason"]
    assert 'mesh_http_requests_denied_total{destination="api",source="web"}' in hosts.api.metrics()


@pytest.mark.parametrize("path", ["/%61dmin", "/x/../admin", "/./admin/", "http://api/admin"])
def test_paths_that_normalize_to_a_denied_one_are_denied_too(hosts: Hosts, path: str) -> None:
    hosts.permissions(NO_DELETE_ADMIN)
    wait_until(lambda: hosts.call("DELETE", "/admin")[0] == 403, 5, what="the L7 intention in force")
    assert hosts.call("DELETE", path)[0] == 403


def test_a_refused_request_is_answered_without_its_body_being_read_and_the_connection_closed(hosts: Hosts) -> None:
    hosts.permissions(NO_DELETE_ADMIN)
    wait_until(lambda: hosts.call("DELETE", "/admin")[0] == 403, 5, what="the L7 intention in force")
    with hosts.inbound() as sock:
        sock.sendall(b"DELETE /admin HTTP/1.1\r\nHost: api\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        received = b""
        while piece := sock.recv(65536):
            received += piece
    assert received.startswith(b"HTTP/1.1 403 Forbidden\r\n")  # no 100 Continue: the body is not wanted
    assert b"\r\nconnection: close\r\n" in received.lower()


def test_the_next_request_on_an_open_connection_is_refused_once_the_intention_flips(hosts: Hosts) -> None:
    hosts.permissions(ALLOW_ALL)
    wait_until(lambda: hosts.call("DELETE", "/admin")[0] == 200, 5, what="allow-all in force")
    conn = hosts.connect()
    try:
        conn.request("GET", "/before")
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        conn.auto_open = 0  # a reconnect would raise: every request below uses this one connection
        hosts.permissions([{"Action": "deny", "HTTP": {"PathPrefix": "/"}}])
        written = time.monotonic()
        statuses = []
        while time.monotonic() - written < 2:
            conn.request("GET", "/after")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            if response.status == 403:
                break
            time.sleep(0.05)
        assert statuses[-1] == 403, statuses
        assert time.monotonic() - written < 1.5
    finally:
        conn.close()


def test_a_connection_level_deny_on_an_http_service_is_a_403_per_request(hosts: Hosts) -> None:
    entry = {"Sources": [{"Name": "web", "Action": "deny"}]}
    assert hosts.mesh.stack.consul().config.set("service-intentions", "api", entry)
    served = hosts.app_requests()

    def refused_by_the_deny() -> bool:
        status, headers, _ = hosts.call("GET", "/")
        return status == 403 and "intention web => api (deny)" in headers["x-mesh-denied"]

    wait_until(refused_by_the_deny, 5, what="the deny in force, answered per request")
    assert hosts.app_requests() == served
