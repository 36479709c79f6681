"""Say what an unknown key probably is: a typo, Kubernetes-style casing, a misplaced field, or a
Consul field this mesh deliberately does not implement."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from mesh.traffic.keys import SERVICE_DEFAULTS, SERVICE_RESOLVER

_NOT_ENVOY = "Envoy escape hatches do not apply: this mesh runs its own proxy, not Envoy"

# Consul fields that are refused (not silently ignored) because the mesh cannot honour them.
_UNSUPPORTED: dict[str, str] = {
    "Peer": "cluster peering is not supported by this mesh",
    "SamenessGroup": "sameness groups are not supported by this mesh",
    "EnvoyExtensions": _NOT_ENVOY,
    "EnvoyListenerJSON": _NOT_ENVOY,
    "EnvoyClusterJSON": _NOT_ENVOY,
    "ExternalSNI": "external services (ExternalSNI) are not supported by this mesh",
}
_UNSUPPORTED_IN_KIND: dict[tuple[str, str], str] = {
    (SERVICE_DEFAULTS, "Destination"): "terminating-gateway destinations are not supported by this mesh",
    (SERVICE_DEFAULTS, "Protocol"): "set an upstream's protocol in that upstream's own service-defaults document",
    (SERVICE_RESOLVER, "Policy"): (
        "failover policies (order-by-locality) are not supported; list Targets or Datacenters in the order to try"
    ),
}
_HTTP_MATCH_FIELDS = frozenset({"PathExact", "PathPrefix", "PathRegex", "Header", "QueryParam", "Methods"})


def _fold(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def unknown_key_message(kind: str, parent: str, key: str, allowed: Collection[str]) -> str:
    """The message for `key`, unknown in the object at `parent` whose known keys are `allowed`."""
    if (kind, key) in _UNSUPPORTED_IN_KIND:
        return f"not supported: {_UNSUPPORTED_IN_KIND[kind, key]}"
    if key in _UNSUPPORTED:
        return f"not supported: {_UNSUPPORTED[key]}"
    if key in _HTTP_MATCH_FIELDS and parent.endswith("Match"):
        return f"unknown key here; it belongs under {parent}.HTTP"
    same = [name for name in allowed if _fold(name) == _fold(key)]
    if same:
        return f"unknown key; write {same[0]!r} (the mesh reads Consul's canonical CamelCase field names)"
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.75)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key; expected one of {', '.join(sorted(allowed))}"
