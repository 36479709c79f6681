"""What this host registers in Consul for each local service (pure).

Two registrations per service, as Consul Connect does for a sidecar:
- the service itself (its app check, tags, meta including `workload`, weights);
- a `connect-proxy` registration at this host's inbound listener, which is what peers
  discover through `/v1/health/connect/<service>`. It copies the service's tags and meta
  (as Consul's `sidecar_service` does) so subset filters see them, declares the upstreams
  (the Consul UI topology view), and carries an alias of the service's health.

The proxy also goes critical when this host's agent is gone even if the app is still up: one
TTL check per host that the agent keeps passing, as a node check or on a `mesh-agent` host
service that each proxy aliases (see mesh/consul/liveness.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesh.config.model import LocalService
from mesh.consul.liveness import HOST_SERVICE_NAME, Liveness

PROXY_SUFFIX = "-sidecar-proxy"


def proxy_id(service: LocalService) -> str:
    return f"{service.id}{PROXY_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Registration:
    """Keyword arguments for py-consul's `agent.service.register`, plus the ID for logs."""

    service_id: str
    kwargs: dict[str, Any]


def service_registration(service: LocalService) -> Registration:
    meta = {**service.meta_dict, "workload": service.workload}
    checks: list[dict[str, Any]] = []
    if service.check is not None:
        checks.append({"Name": f"{service.name} health", **service.check.to_consul(service.address, service.port)})
    kwargs: dict[str, Any] = {
        "name": service.name,
        "service_id": service.id,
        "address": service.address,
        "port": service.port,
        "tags": list(service.tags),
        "meta": meta,
        "weights": {"Passing": service.weight_passing, "Warning": service.weight_warning},
        "replace_existing_checks": True,
    }
    if checks:
        kwargs["check"] = checks[0]
        kwargs["extra_checks"] = checks[1:]
    return Registration(service.id, kwargs)


def proxy_registration(
    service: LocalService, *, node: str, advertise_address: str, inbound_port: int, liveness: Liveness
) -> Registration:
    pid = proxy_id(service)
    upstreams = [
        {
            "DestinationType": "service",
            "DestinationName": u.destination_name,
            "LocalBindAddress": u.local_bind_address,
            "LocalBindPort": u.local_bind_port,
            **({"Datacenter": u.datacenter} if u.datacenter else {}),
        }
        for u in service.upstreams
    ]
    checks = [{"Name": f"{service.name} app", "AliasService": service.id}, *liveness.proxy_checks()]
    kwargs: dict[str, Any] = {
        "name": f"{service.name}{PROXY_SUFFIX}",
        "service_id": pid,
        "address": advertise_address,
        "port": inbound_port,
        "tags": list(service.tags),
        "meta": {**service.meta_dict, "workload": service.workload, "mesh-agent": node},
        "weights": {"Passing": service.weight_passing, "Warning": service.weight_warning},
        "kind": "connect-proxy",
        "proxy": {
            "DestinationServiceName": service.name,
            "DestinationServiceID": service.id,
            "LocalServiceAddress": service.address,
            "LocalServicePort": service.port,
            "Upstreams": upstreams,
            "Config": {"protocol": service.protocol},
        },
        "check": checks[0],
        "extra_checks": checks[1:],
        # Also drops the per-service TTL check that agents before the host-level one registered.
        "replace_existing_checks": True,
    }
    return Registration(pid, kwargs)


def host_service_registration(liveness: Liveness, *, advertise_address: str) -> Registration:
    """The `mesh-agent` service that carries this host's liveness check when Consul's node is
    shared (see mesh/consul/liveness.py); it has no port: nothing dials it."""
    kwargs: dict[str, Any] = {
        "name": HOST_SERVICE_NAME,
        "service_id": liveness.host_service_id,
        "address": advertise_address,
        "meta": {"mesh-agent": liveness.node},
        "check": liveness.check(),
        "replace_existing_checks": True,
    }
    return Registration(liveness.host_service_id, kwargs)
