"""Readiness and the status document, computed from the agent's current state (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mesh.certs.material import TlsMaterial
from mesh.config.model import AgentConfig
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey

EjectedUntil = Callable[[str], float | None]


@dataclass(frozen=True, slots=True)
class Readiness:
    """`reasons` say why not ready (503); `warnings` say why ready but degraded (fail-static)."""

    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def fail_static(self) -> bool:
        return any(w.startswith(FAIL_STATIC) for w in self.warnings)


FAIL_STATIC = "fail-static: "


def readiness(
    *,
    registered: bool,
    tls: TlsMaterial | None,
    config: AgentConfig,
    snapshot: MeshSnapshot,
    required: frozenset[str],
    consul_unreachable_since: float | None,
    now: float,
) -> Readiness:
    """Ready when registered, every service has a valid leaf, and every required source is in
    force. Fail-static (Consul unreachable, or sources served from state_dir) is ready with a
    warning: the agent serves what it last knew, and says so; systemd must not kill it for that."""
    reasons: list[str] = []
    warnings: list[str] = []
    if tls is None:
        reasons.append("no certificates yet")
    else:
        missing = [s.name for s in config.services if s.name not in tls.services]
        if missing:
            reasons.append(f"no certificate for {', '.join(missing)}")
        expired = tls.expired(now)
        if expired:
            reasons.append(f"certificate expired for {', '.join(expired)}")
    waiting = sorted(required - snapshot.synced - snapshot.restored)
    if waiting:
        reasons.append(f"waiting for first Consul sync of {', '.join(waiting)}")
    restored = sorted(required & snapshot.restored - snapshot.synced)
    if consul_unreachable_since is not None:
        since = datetime.fromtimestamp(consul_unreachable_since, UTC).isoformat(timespec="seconds")
        warnings.append(
            f"{FAIL_STATIC}Consul unreachable since {since} ({now - consul_unreachable_since:.0f}s); "
            "serving the last good snapshot"
        )
    if restored:
        warnings.append(f"{FAIL_STATIC}serving {', '.join(restored)} from the snapshot persisted in state_dir")
    if not registered:
        if warnings:
            warnings.append("not registered in Consul yet (it registers as soon as Consul answers)")
        else:
            reasons.append("not registered in Consul")
    return Readiness(tuple(reasons), tuple(warnings))


def status_document(
    *,
    config: AgentConfig,
    datacenter: str,
    trust_domain: str,
    snapshot: MeshSnapshot,
    tls: TlsMaterial | None,
    readiness: Readiness,
    extra_errors: dict[str, str],
    certificates: dict[str, Any] | None = None,
    restart_required: tuple[str, ...] = (),
    ejected_until: EjectedUntil | None = None,
) -> dict[str, Any]:
    """Everything but the endpoints is built now (it is small); `endpoints` is an EndpointsView,
    built by whoever reads it (the admin API, in a worker thread)."""
    services = []
    for s in config.services:
        leaf = tls.services[s.name].leaf if tls is not None and s.name in tls.services else None
        services.append(
            {
                "name": s.name,
                "id": s.id,
                "protocol": s.protocol,
                "local": f"{s.address}:{s.port}",
                "certificate": None if leaf is None else leaf.describe(),
                "upstreams": [
                    {
                        "destination": u.destination_name,
                        "datacenter": u.datacenter or datacenter,
                        "bind": str(u.bind),
                    }
                    for u in s.upstreams
                ],
            }
        )
    endpoints = EndpointsView(snapshot.endpoints, ejected_until)
    return {
        "node": config.node,
        "datacenter": datacenter,
        "trust_domain": trust_domain,
        "ready": readiness.ready,
        "not_ready_reasons": list(readiness.reasons),
        "warnings": list(readiness.warnings),
        "fail_static": readiness.fail_static,
        # Settings changed in the file that only a restart applies (the running value is kept).
        "restart_required": list(restart_required),
        "services": services,
        "endpoints": endpoints,
        # How many endpoints each destination has: a limited answer (`?limit=`) still says.
        "endpoint_counts": endpoints.counts(),
        "intentions": len(snapshot.intentions),
        "snapshot_version": snapshot.version,
        # Watch indexes, and the ModifyIndex of each traffic document in force ("kind/service").
        "config_versions": {**snapshot.indexes, **snapshot.traffic.versions()},
        "errors": {**snapshot.errors, **extra_errors},
        # Vault token lease (never the token), retry state, the trust bundle in force.
        "certificates": certificates,
    }


class EndpointsView(Mapping[str, list[dict[str, Any]]]):
    """The status document's `endpoints` ("service@dc" -> its endpoints), each list built when read.

    Built whole, 1,500 endpoints took tens of milliseconds (each asks outlier detection whether it
    is ejected, across every listener's detector). The admin API reads this view in a worker thread
    and only for the destinations a query asks for (mesh/admin/status_query.py). Reading it from a
    thread is safe: the snapshot's endpoint tuples are immutable and `ejected_until` only reads.
    """

    def __init__(
        self, endpoints: Mapping[UpstreamKey, tuple[Endpoint, ...]], ejected_until: EjectedUntil | None
    ) -> None:
        self._by_name = {f"{key.service}@{key.datacenter}": eps for key, eps in endpoints.items()}
        self._ejected_until = ejected_until

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        return [self._describe(e) for e in self._by_name[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def head(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The first `limit` endpoints of `name`, building no others."""
        return [self._describe(e) for e in self._by_name[name][:limit]]

    def counts(self) -> dict[str, int]:
        return {name: len(eps) for name, eps in self._by_name.items()}

    def _describe(self, e: Endpoint) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "address": e.address,
            "port": e.port,
            "node": e.node,
            "instance": e.instance_id,
            "health": e.health,
        }
        # -- resilience (mesh/resilience): outlier detection's ejections, looked up by Endpoint.key --
        if self._ejected_until is not None:
            until = self._ejected_until(e.key)
            shown["ejected"] = until is not None
            shown["ejected_until"] = until  # Unix time it returns to service; None when not ejected
        # -- end resilience --
        return shown
