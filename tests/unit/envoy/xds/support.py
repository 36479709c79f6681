"""A real ADS client stream (grpc.aio) for the server's tests, and small resources to serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf.message import Message

from mesh.envoy.xds import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, XdsStatus
from mesh.envoy.xds.resources import ResourceSet

# What an SDS secret's private key holds in these tests; it must never reach a log line.
KEY_TEXT = "-----BEGIN PRIVATE KEY-----\nTHIS-IS-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"


def cluster(name: str, timeout_s: int = 1) -> cluster_pb2.Cluster:
    c = cluster_pb2.Cluster(name=name)
    c.connect_timeout.seconds = timeout_s
    return c


def endpoints(name: str, port: int = 8080) -> endpoint_pb2.ClusterLoadAssignment:
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    lb = cla.endpoints.add().lb_endpoints.add()
    lb.endpoint.address.socket_address.address = "127.0.0.1"
    lb.endpoint.address.socket_address.port_value = port
    return cla


def listener(name: str, port: int = 15000) -> listener_pb2.Listener:
    ln = listener_pb2.Listener(name=name)
    ln.address.socket_address.address = "127.0.0.1"
    ln.address.socket_address.port_value = port
    return ln


def route(name: str, prefix: str = "/") -> route_pb2.RouteConfiguration:
    rc = route_pb2.RouteConfiguration(name=name)
    vh = rc.virtual_hosts.add(name="all", domains=["*"])
    vh.routes.add().match.prefix = prefix
    return rc


def secret(name: str) -> secret_pb2.Secret:
    s = secret_pb2.Secret(name=name)
    s.tls_certificate.private_key.inline_string = KEY_TEXT
    return s


def resource_set(**by_type: dict[str, Message]) -> ResourceSet:
    urls = {"clusters": CLUSTER, "endpoints": ENDPOINT, "listeners": LISTENER, "routes": ROUTE, "secrets": SECRET}
    return {urls[k]: v for k, v in by_type.items()}


def basic_set(*, cluster_timeout: int = 1) -> ResourceSet:
    return resource_set(
        clusters={"c1": cluster("c1", cluster_timeout), "c2": cluster("c2")},
        endpoints={"c1": endpoints("c1"), "c2": endpoints("c2", 8081)},
        listeners={"l1": listener("l1")},
        routes={"r1": route("r1"), "r2": route("r2", "/api")},
        secrets={"s1": secret("s1"), "s2": secret("s2")},
    )


class AdsClient:
    """One ADS stream as Envoy drives it: requests written, responses read, in order."""

    def __init__(self, target: str, node_id: str) -> None:
        self.node_id = node_id
        # Envoy takes responses of any size; grpc's client default would stop at 4 MiB.
        self.channel = grpc.aio.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.call: Any = stub.StreamAggregatedResources()
        self._first = True

    async def request(
        self,
        type_url: str,
        names: Iterable[str] = (),
        *,
        version: str = "",
        nonce: str = "",
        error: str | None = None,
    ) -> None:
        req = discovery_pb2.DiscoveryRequest(
            type_url=type_url, resource_names=list(names), version_info=version, response_nonce=nonce
        )
        if self._first:
            req.node.id = self.node_id
            self._first = False
        if error is not None:
            req.error_detail.code = 3  # INVALID_ARGUMENT, as Envoy sends
            req.error_detail.message = error
        await self.call.write(req)

    async def response(self) -> discovery_pb2.DiscoveryResponse:
        got = await self.call.read()
        eof = grpc.aio.EOF  # type: ignore[attr-defined]
        assert got is not eof, "the server ended the stream"
        return got

    async def ack(self, response: discovery_pb2.DiscoveryResponse, names: Iterable[str] = ()) -> None:
        await self.request(response.type_url, names, version=response.version_info, nonce=response.nonce)

    async def nack(
        self, response: discovery_pb2.DiscoveryResponse, message: str, *, kept: str = "", names: Iterable[str] = ()
    ) -> None:
        await self.request(response.type_url, names, version=kept, nonce=response.nonce, error=message)

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close(None)


def names_of(response: discovery_pb2.DiscoveryResponse) -> list[str]:
    """The names of the resources in a response, unpacked by their type."""
    out = []
    for packed in response.resources:
        kind = {
            CLUSTER: cluster_pb2.Cluster,
            ENDPOINT: endpoint_pb2.ClusterLoadAssignment,
            LISTENER: listener_pb2.Listener,
            ROUTE: route_pb2.RouteConfiguration,
            SECRET: secret_pb2.Secret,
        }[packed.type_url]
        message = kind()
        packed.Unpack(message)
        out.append(message.cluster_name if packed.type_url == ENDPOINT else message.name)
    return out


async def eventually(status: Callable[[], XdsStatus], check: Callable[[XdsStatus], bool]) -> XdsStatus:
    """Poll the server's status until `check` holds (the test's own bound fails a hang)."""
    while True:
        current = status()
        if check(current):
            return current
        await asyncio.sleep(0.01)
