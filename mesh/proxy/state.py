"""What the data plane reads: the current snapshot and TLS material, swapped atomically."""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh.certs.material import TlsMaterial
from mesh.config.model import AgentConfig
from mesh.snapshot.model import MeshSnapshot


@dataclass
class LiveState:
    """Mutable holder of immutable parts. Each connection reads each attribute once.

    Assigning an attribute is atomic in the event loop, so a reader sees either the old or
    the new value, never a mix.
    """

    config: AgentConfig
    datacenter: str
    trust_domain: str
    snapshot: MeshSnapshot = field(default_factory=MeshSnapshot)
    tls: TlsMaterial | None = None
