"""What the xDS server serves: Envoy's type URLs, a resource set, and the order types are pushed in.

A `ResourceSet` is the whole desired configuration of one Envoy, as `translate` produces it:
for each type URL, every resource of that type by name. A type that is absent is served as
empty (no resources of that type), so a publish always describes everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google.protobuf.message import Message

LISTENER: Final = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE: Final = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER: Final = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT: Final = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET: Final = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"  # noqa: S105 (a type URL)

# Make-before-break over one ADS stream (Envoy's xDS protocol, "eventual consistency
# considerations"): secrets before the clusters and listeners whose TLS contexts name them,
# clusters before the endpoints that fill them, clusters before the listeners and routes that
# send traffic to them, listeners before the route configurations they subscribe to. Envoy reads
# the stream in order, so sending in this order is enough; no response waits on another's ACK.
PUSH_ORDER: Final[tuple[str, ...]] = (SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE)

# LDS and CDS are wildcard subscriptions (Envoy asks for "everything"); the others are asked for
# by name, the names coming from the resources of the wildcard types (a listener's RDS route
# name, a cluster's EDS service name, a TLS context's SDS secret names).
WILDCARD_TYPES: Final[frozenset[str]] = frozenset({LISTENER, CLUSTER})

# Short names for logs and metric labels.
SHORT_NAMES: Final[Mapping[str, str]] = {
    LISTENER: "lds",
    ROUTE: "rds",
    CLUSTER: "cds",
    ENDPOINT: "eds",
    SECRET: "sds",
}

ResourceSet = Mapping[str, Mapping[str, Message]]


def short_name(type_url: str) -> str:
    """`lds`, `cds`, ... for a known type; the URL's last segment otherwise (for log lines)."""
    return SHORT_NAMES.get(type_url) or type_url.rsplit("/", 1)[-1][:100]
