"""A caller's SPIFFE ID is read whole and strictly: a certificate the mesh CA signed for
`ns/other/.../svc/web`, or for `.../svc/web` followed by a newline, is not `web`, so an
intention allowing `web` does not let it in. One for `web` in another datacenter of the same
trust domain is `web` (Consul's reading under WAN federation: docs/security.md)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Mesh, running_stack
from tests.support.pki import Issued, make_leaf, spiffe, stand_in_issuer
from tests.support.processes import Agent, wait_until
from tests.support.scrape import sample
from tests.support.tlsclient import ClientCert, issued_cert, mtls_connect

pytestmark = pytest.mark.e2e


@dataclass
class Estate:
    """B serves `api` (http) behind strict mTLS; intentions allow only `web` to call it."""

    mesh: Mesh
    b: Agent
    td: str
    issuer: Issued
    bundle_pem: str
    tmp: Path

    def cert_for(self, uri: str, name: str) -> ClientCert:
        """A leaf signed by the mesh's own issuing CA (so it chains to the trust bundle)."""
        return issued_cert(self.tmp, name, make_leaf(self.issuer, [uri]), [self.issuer], self.bundle_pem)

    def call(self, cert: ClientCert) -> tuple[int, str | None] | None:
        """B's status for `GET /who` from a client holding `cert`, with the caller's SPIFFE ID as
        the app read it in XFCC; None when B refused the connection."""
        try:
            with mtls_connect(
                self.b.host,
                self.b.inbound_port,
                service="api",
                trust_domain=self.td,
                bundle_pem=self.bundle_pem,
                cert=cert,
            ) as s:
                s.settimeout(5)
                s.sendall(b"GET /who HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except (ssl.SSLError, OSError):
            return None
        if not data:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            return status, None
        seen: dict[str, Any] = json.loads(body)
        xfcc = str(seen["headers"].get("x-forwarded-client-cert", ""))
        return status, xfcc.rpartition(";URI=")[2]


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    tmp = tmp_path_factory.mktemp("identity-parsing")
    with running_stack("e2e-identity-parsing") as stack:
        mesh = Mesh(tmp, stack)
        try:
            host = mesh.host()
            api = {"name": "api", "port": mesh.app("api", host), "address": host, "protocol": "http"}
            b = mesh.agent("host-b", host, [api])
            stack.allow("web", "api")
            bundle = stack.vault().secrets.pki.read_ca_certificate_chain(mount_point="pki_int")
            e = Estate(mesh, b, stack.devstack.trust_domain, stand_in_issuer(stack.devstack.vault), bundle, tmp)
            web = e.cert_for(spiffe("web", e.td), "web")
            wait_until(lambda: (e.call(web) or (0,))[0] == 200, 5, interval=0.1, what="web -> api allowed")
            yield e
        finally:
            mesh.close()


def refusal_reasons(agent: Agent, since: int) -> list[str]:
    events = agent.process.log_events()[since:]
    return [str(ev.get("reason")) for ev in events if ev.get("event") == "inbound refused"]


def test_the_caller_web_is_authorized_and_named_to_the_app(estate: Estate) -> None:
    assert estate.call(estate.cert_for(spiffe("web", estate.td), "web-ok")) == (200, spiffe("web", estate.td))


def test_a_caller_that_is_not_allowed_is_denied(estate: Estate) -> None:
    """The control: without `web` in its identity a caller gets no further than a 403."""
    assert estate.call(estate.cert_for(spiffe("db", estate.td), "db")) == (403, None)


@pytest.mark.parametrize(
    ("case", "reason"),
    [("another namespace", "wrong_namespace"), ("a trailing newline", "not_a_service_identity")],
)
def test_a_look_alike_of_web_is_refused_before_authorization(estate: Estate, case: str, reason: str) -> None:
    e = estate
    uri = {
        "another namespace": f"spiffe://{e.td}/ns/other/dc/dc1/svc/web",
        "a trailing newline": spiffe("web", e.td) + "\n",
    }[case]
    since = len(e.b.process.log_events())
    assert e.call(e.cert_for(uri, case.replace(" ", "-"))) is None
    logged = wait_until(lambda: refusal_reasons(e.b, since), 5, what=f"B to log why it refused {case}")
    assert logged == [reason]
    assert sample(e.b.metrics(), "mesh_tls_refusals_total", listener="inbound", reason=reason) >= 1


def test_web_in_another_datacenter_of_the_trust_domain_is_web(estate: Estate) -> None:
    web_dc2 = spiffe("web", estate.td, dc="dc2")
    assert estate.call(estate.cert_for(web_dc2, "web-dc2")) == (200, web_dc2)
