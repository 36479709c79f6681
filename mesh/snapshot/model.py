"""The immutable snapshot every connection and request reads once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mesh.intentions import IntentionTable
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.state import TrafficState


@dataclass(frozen=True, slots=True)
class UpstreamKey:
    service: str
    datacenter: str

    @property
    def watch_id(self) -> str:
        return f"endpoints/{self.service}/{self.datacenter}"


@dataclass(frozen=True)
class MeshSnapshot:
    version: int = 0
    intentions: IntentionTable = field(default_factory=IntentionTable)
    endpoints: Mapping[UpstreamKey, tuple[Endpoint, ...]] = field(default_factory=dict)
    # Traffic documents in force from KV; their errors are also in `errors`, keyed by KV key.
    traffic: TrafficState = field(default_factory=TrafficState)
    # Which watches have delivered at least once; "ready" needs all required ones.
    synced: frozenset[str] = frozenset()
    # Sources served from the snapshot persisted in state_dir because Consul has not answered
    # for them since this agent started (fail-static); a live answer removes them from here.
    restored: frozenset[str] = frozenset()
    # The Consul index each source was last applied at (config versions in /v1/status).
    indexes: Mapping[str, int] = field(default_factory=dict)
    # The last error per source; the data of that source stays as it was.
    errors: Mapping[str, str] = field(default_factory=dict)

    def endpoints_for(self, key: UpstreamKey) -> tuple[Endpoint, ...]:
        return self.endpoints.get(key, ())
