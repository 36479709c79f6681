"""Documents and instances for routing specs, built through the production parsers."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from mesh.routing import RequestInfo
from mesh.snapshot.endpoints import Endpoint, endpoints_from_health
from mesh.traffic.state import TrafficState, next_state

PREFIX = "mesh/config"


def traffic(docs: Mapping[str, str]) -> TrafficState:
    """A state with `docs` ({"service-splitter/api": yaml}) in force; fails on any error."""
    listing = [
        {"Key": f"{PREFIX}/{key}", "Value": text.encode(), "ModifyIndex": position}
        for position, (key, text) in enumerate(docs.items(), 1)
    ]
    state = next_state(TrafficState(), listing, prefix=PREFIX)
    assert not state.errors, {k: e.message for k, e in state.errors.items()}
    return state


def instance(
    name: str,
    *,
    service: str = "api",
    meta: Mapping[str, str] | None = None,
    tags: tuple[str, ...] = (),
    node_meta: Mapping[str, str] | None = None,
    weight: int = 1,
    health: str = "passing",
    datacenter: str = "dc1",
    protocol: str = "tcp",
) -> Endpoint:
    """One instance as `/v1/health/connect/<service>` reports it (through endpoints_from_health)."""
    entry: dict[str, Any] = {
        "Node": {
            "Node": f"node-{name}",
            "Address": "10.0.0.1",
            "Datacenter": datacenter,
            "Meta": dict(node_meta or {}),
        },
        "Service": {
            "ID": f"{name}-sidecar-proxy",
            "Service": f"{service}-sidecar-proxy",
            "Address": "10.0.0.1",
            "Port": 20000,
            "Tags": list(tags),
            "Meta": dict(meta or {}),
            "Weights": {"Passing": weight, "Warning": weight},
            "Proxy": {
                "DestinationServiceName": service,
                "DestinationServiceID": name,
                "Config": {"protocol": protocol},
            },
        },
        "Checks": [{"Status": health}],
    }
    (endpoint,) = endpoints_from_health([entry], datacenter)
    return endpoint


def request(
    path: str = "/",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    query: tuple[tuple[str, str], ...] = (),
    source_ip: str = "10.9.9.9",
) -> RequestInfo:
    return RequestInfo(method, path, query, dict(headers or {}), source_ip)


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)
