"""The agent's xDS server: Envoy's configuration over ADS (State-of-the-World, gRPC).

`resources` names the types and their push order; `catalog` versions what is published per
type; `session` is one stream's protocol rules (nonces, ACK, NACK, subscriptions); `nodes`
and `status` are what the server reports; `server` is the gRPC I/O around them.
"""

from mesh.envoy.xds.address import InvalidListenAddress
from mesh.envoy.xds.catalog import InvalidResourceSet
from mesh.envoy.xds.resources import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, SECRET, ResourceSet
from mesh.envoy.xds.server import AdsServer, EventHook, XdsServerError
from mesh.envoy.xds.status import (
    Acked,
    Nack,
    Nacked,
    NodeStatus,
    ResponseSent,
    StreamClosed,
    StreamOpened,
    TypeStatus,
    XdsEvent,
    XdsStatus,
)

__all__ = [
    "CLUSTER",
    "ENDPOINT",
    "LISTENER",
    "PUSH_ORDER",
    "ROUTE",
    "SECRET",
    "Acked",
    "AdsServer",
    "EventHook",
    "InvalidListenAddress",
    "InvalidResourceSet",
    "Nack",
    "Nacked",
    "NodeStatus",
    "ResourceSet",
    "ResponseSent",
    "StreamClosed",
    "StreamOpened",
    "TypeStatus",
    "XdsEvent",
    "XdsServerError",
    "XdsStatus",
]
