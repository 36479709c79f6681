"""What an upstream speaks, which decides between the L4 and the L7 proxy path."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.state import TrafficState


def upstream_protocol(traffic: TrafficState, service: str, endpoints: Sequence[Endpoint]) -> str:
    """ "http" or "tcp" as the builtin plane carries it: the service-defaults Protocol when a
    document says (http2 and grpc are carried as TCP: only the Envoy plane has them at L7, see
    mesh.traffic.planes), else "http" when every instance registered http, else tcp.

    Mixed registrations (a rollout changing the protocol) give tcp: carrying HTTP as bytes only
    loses the L7 features, while parsing a TCP protocol as HTTP would break it.
    """
    defaults = traffic.defaults(service)
    if defaults is not None and defaults.effective_protocol is not None:
        return defaults.effective_protocol
    if endpoints and all(e.protocol == "http" for e in endpoints):
        return "http"
    return "tcp"
