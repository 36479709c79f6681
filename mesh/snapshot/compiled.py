"""The compiled snapshot: what a data plane consumes, computed once per snapshot (pure).

    watches -> SnapshotBuilder -> MeshSnapshot --compile_snapshot--> CompiledSnapshot -> data plane

A MeshSnapshot holds what Consul said (intentions, endpoints, traffic documents). The compiled
snapshot adds what the agent configuration and the certificates make of it, for this host:

- per local service, its inbound side: the protocol it speaks (the service-defaults document's,
  else the configuration's), its effective mTLS mode, its inbound limits;
- per (local service, declared upstream), its outbound side: the discovery chain compiled for
  that caller (mesh/routing/chain.py: routes, splits, per (route, backend) attempt plans), the
  protocol of the destination, and the endpoints of every target the chain can reach, already
  narrowed to each target's subset (healthy only: the snapshot holds no critical instance);
- the intention table, the default decision, and the TLS material in force.

The seam is narrow on purpose: the Envoy data plane (mesh/envoy/translate) reads only this; the
builtin plane reads the same parts (its listeners memoize on the snapshot they derive from).
Compiling reuses the previous compiled upstream when nothing it was made from changed (the same
traffic state, the same endpoint tuples), so an endpoint change recompiles only the upstreams
that reach that service, and a KV change recompiles what reads the documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mesh.certs.material import TlsMaterial
from mesh.config.model import AgentConfig, LocalService, TracingSettings, Upstream
from mesh.intentions import IntentionTable
from mesh.routing import reachable_targets
from mesh.routing.chain import CompiledChain, compiled_chain
from mesh.routing.subsets import endpoints_for_target
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.traffic.resolution import Target
from mesh.traffic.state import TrafficState

PROTOCOLS = ("tcp", "http", "http2", "grpc")
L7_PROTOCOLS = frozenset({"http", "http2", "grpc"})


@dataclass(frozen=True, slots=True)
class CompiledInbound:
    """One local service as the snapshot and configuration in force make it."""

    service: LocalService
    protocol: str  # tcp | http | http2 | grpc, as declared (the builtin plane carries http2/grpc as tcp)
    mtls_mode: str  # strict | permissive: the service-defaults MutualTLSMode, else the host's
    max_inbound_connections: int  # 0: no limit
    local_connect_timeout: float | None  # None: the data plane's default
    local_request_timeout: float | None


@dataclass(frozen=True, slots=True)
class CompiledUpstream:
    """One declared upstream of one local service: its chain as compiled for that caller and the
    endpoints of each target the chain reaches (subset-selected, healthy, in Consul's order)."""

    service: str  # the calling local service
    upstream: Upstream
    datacenter: str  # the upstream's datacenter, or the agent's
    protocol: str  # of the destination service: tcp | http | http2 | grpc
    chain: CompiledChain
    targets: Mapping[Target, tuple[Endpoint, ...]]
    # What this was compiled from, to reuse it when nothing changed (compared by identity).
    traffic: TrafficState
    sources: tuple[tuple[Endpoint, ...], ...]

    @property
    def http(self) -> bool:
        return self.protocol in L7_PROTOCOLS


@dataclass(frozen=True)
class CompiledSnapshot:
    version: int
    source: MeshSnapshot
    datacenter: str
    trust_domain: str
    default_allow: bool
    mtls_mode: str  # the host's inbound.mtls_mode
    inbound_address: str
    inbound_port: int
    inbound: tuple[CompiledInbound, ...]
    upstreams: tuple[CompiledUpstream, ...]
    tls: TlsMaterial | None
    access_log: str = "all"  # the agent's access_log mode: which requests a data plane logs
    tracing: TracingSettings | None = None  # span export (None: trace headers pass on, nothing exported)

    @property
    def intentions(self) -> IntentionTable:
        return self.source.intentions


def destination_protocol(traffic: TrafficState, service: str, endpoints: tuple[Endpoint, ...]) -> str:
    """What a destination speaks: its service-defaults Protocol when a document says, else what
    every instance registered (mixed registrations, a protocol being rolled out, give tcp)."""
    defaults = traffic.defaults(service)
    if defaults is not None and defaults.protocol in PROTOCOLS:
        return defaults.protocol
    registered = {e.protocol for e in endpoints}
    if len(registered) == 1:
        (only,) = registered
        if only in PROTOCOLS:
            return only
    return "tcp"


def compile_snapshot(
    config: AgentConfig,
    datacenter: str,
    trust_domain: str,
    snapshot: MeshSnapshot,
    tls: TlsMaterial | None,
    previous: CompiledSnapshot | None = None,
) -> CompiledSnapshot:
    reusable: dict[tuple[str, Upstream], CompiledUpstream] = {}
    if previous is not None:
        reusable = {(u.service, u.upstream): u for u in previous.upstreams}
    upstreams = tuple(
        _upstream(snapshot, service, upstream, datacenter, reusable.get((service.name, upstream)))
        for service in config.services
        for upstream in service.upstreams
    )
    return CompiledSnapshot(
        version=snapshot.version,
        source=snapshot,
        datacenter=datacenter,
        trust_domain=trust_domain,
        default_allow=config.intentions_default == "allow",
        mtls_mode=config.mtls_mode,
        inbound_address=config.inbound_listen.host,
        inbound_port=config.inbound_listen.port,
        inbound=tuple(_inbound(snapshot.traffic, config, s) for s in config.services),
        upstreams=upstreams,
        tls=tls,
        access_log=config.access_log,
        tracing=config.tracing,
    )


def _inbound(traffic: TrafficState, config: AgentConfig, service: LocalService) -> CompiledInbound:
    defaults = traffic.defaults(service.name)
    if defaults is None:
        return CompiledInbound(service, service.protocol, config.mtls_mode, 0, None, None)
    return CompiledInbound(
        service,
        defaults.protocol if defaults.protocol in PROTOCOLS else service.protocol,
        defaults.mutual_tls_mode or config.mtls_mode,
        defaults.max_inbound_connections,
        defaults.local_connect_timeout,
        defaults.local_request_timeout,
    )


def _upstream(
    snapshot: MeshSnapshot,
    service: LocalService,
    upstream: Upstream,
    agent_dc: str,
    previous: CompiledUpstream | None,
) -> CompiledUpstream:
    traffic = snapshot.traffic
    dc = upstream.datacenter or agent_dc
    destination = upstream.destination_name
    targets = sorted(
        reachable_targets(traffic, destination, dc, service.name),
        key=lambda t: (t.service, t.subset or "", t.datacenter or ""),
    )
    sources = tuple(snapshot.endpoints_for(UpstreamKey(t.service, t.datacenter or dc)) for t in targets)
    if (
        previous is not None
        and previous.traffic is traffic
        and len(previous.sources) == len(sources)
        and all(a is b for a, b in zip(previous.sources, sources, strict=True))
    ):
        return previous
    chain = compiled_chain(traffic, destination, dc, service.name)
    selected = {
        t: endpoints_for_target(t, found, traffic.resolver(t.service))
        for t, found in zip(targets, sources, strict=True)
    }
    own = snapshot.endpoints_for(UpstreamKey(destination, dc))
    return CompiledUpstream(
        service=service.name,
        upstream=upstream,
        datacenter=dc,
        protocol=destination_protocol(traffic, destination, own),
        chain=chain,
        targets=selected,
        traffic=traffic,
        sources=sources,
    )
