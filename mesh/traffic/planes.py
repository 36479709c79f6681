"""Which service protocols each data plane carries at L7 (pure).

The builtin plane parses HTTP/1.1 only: `http2` and `grpc` services ride its L4 relay, so a
router, a splitter or an L7 intention for one cannot apply there and is refused, with a message
that names the plane that can (`data_plane: envoy`). The Envoy plane carries all three at L7.
The documents are the same for both planes; only which of them can take effect differs.
"""

from __future__ import annotations

from typing import Final

BUILTIN_L7: Final = frozenset({"http"})
ENVOY_L7: Final = frozenset({"http", "http2", "grpc"})
# Protocols only the Envoy plane carries at L7: the ones a builtin-plane refusal points there for.
ENVOY_ONLY: Final = ENVOY_L7 - BUILTIN_L7


def l7_protocols(data_plane: str) -> frozenset[str]:
    """The protocols `data_plane` (AgentConfig.data_plane) routes per request."""
    return ENVOY_L7 if data_plane == "envoy" else BUILTIN_L7


def not_l7_reason(protocol: str, l7: frozenset[str]) -> str:
    """Why a service that speaks `protocol` takes no L7 document on the plane carrying `l7`
    (after "which"): plain TCP, or HTTP/2 the builtin plane carries as opaque TCP."""
    if protocol in ENVOY_ONLY and protocol not in l7:
        return "the builtin data plane carries as opaque TCP (HTTP/2 and gRPC at L7 need data_plane: envoy)"
    return "is plain TCP" if protocol == "tcp" else "is carried as opaque TCP by this mesh"


def l7_names(l7: frozenset[str]) -> str:
    """`Protocol "http"`, or the list, for the messages that say what L7 documents need."""
    return "Protocol " + " or ".join(f'"{p}"' for p in sorted(l7))
