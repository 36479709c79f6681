"""Turn an agent.yaml into an AgentConfig, or report every problem with its key path."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from mesh.config.exposure import ADMIN_OPT_IN, UPSTREAM_OPT_IN, admin_risk, is_loopback, upstream_risk
from mesh.config.model import (
    AccessLogMode,
    AgentConfig,
    ConsulSettings,
    DataPlane,
    EnvoySettings,
    HealthCheck,
    HostPort,
    LocalService,
    TracingSettings,
    Upstream,
    VaultAuth,
    VaultSettings,
)
from mesh.config.pki_role import DEFAULT_PKI_ROLE, pki_role_problem
from mesh.documents.reading import parse_yaml
from mesh.documents.validation import load_validator, schema_problems
from mesh.durations import parse_duration
from mesh.errors import InvalidDocument, Problem
from mesh.identity import is_valid_service_name, is_valid_trust_domain


def load_config(path: str, *, check_files: bool = True) -> AgentConfig:
    """Read and validate the file at `path`; raise InvalidDocument listing every problem."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InvalidDocument(path, [Problem("", f"cannot read config file: {exc.strerror}")]) from None
    return parse_config(raw, source=path, check_files=check_files)


def parse_config(raw: str | bytes, *, source: str = "<config>", check_files: bool = False) -> AgentConfig:
    data, problems = parse_yaml(raw)
    if problems:
        raise InvalidDocument(source, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidDocument(source, [Problem("", "the config must be a mapping of keys to values")])
    problems = schema_problems(load_validator("mesh.config", "agent.schema.json"), data)
    if problems:
        raise InvalidDocument(source, problems)
    builder = _Builder(data, check_files=check_files)
    config = builder.build()
    if builder.problems:
        raise InvalidDocument(source, builder.problems)
    return config


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def primary_address() -> str | None:
    """The address of the interface that routes outward (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route
            addr: str = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


class _Builder:
    """Semantic checks over schema-valid data; collects problems instead of stopping at the first."""

    def __init__(self, data: dict[str, Any], *, check_files: bool) -> None:
        self.data = data
        self.check_files = check_files
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def duration(self, path: str, text: str, *, minimum: float = 0.0) -> float:
        try:
            value = parse_duration(text)
        except ValueError as exc:
            self.problem(path, str(exc))
            return 0.0
        if value < minimum:
            self.problem(path, f"must be at least {minimum:g}s, got {text!r}")
        return value

    def host_port(self, path: str, text: str) -> HostPort:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            self.problem(path, f"must be host:port with a port in 1-65535, got {text!r}")
            return HostPort("0.0.0.0", 1)
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not host:
            self.problem(path, f"needs a host (use 0.0.0.0 for every interface), got {text!r}")
        return HostPort(host, int(port))

    def loopback_only(self, path: str, host: str, risk: str, opt_in: str) -> None:
        if not host:
            # An empty host binds every interface (asyncio, like bind(2) with INADDR_ANY): say so.
            self.problem(path, f"is empty, which listens on every interface: {risk}; use 127.0.0.1")
        elif not is_loopback(host):
            self.problem(path, f"{host!r} is not a loopback address: {risk}; use 127.0.0.1, or {opt_in} to mean it")

    def url(self, path: str, text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(path, f"must be an http:// or https:// URL, got {text!r}")
        return text.rstrip("/")

    def file(self, path: str, name: str | None) -> str | None:
        if name is not None and self.check_files and not os.access(name, os.R_OK):
            self.problem(path, f"file {name!r} does not exist or is not readable")
        return name

    def build(self) -> AgentConfig:
        d = self.data
        node = d.get("node") or socket.gethostname()
        datacenter = d.get("datacenter")
        if datacenter is not None and not is_valid_service_name(datacenter):
            self.problem("datacenter", f"invalid datacenter name {datacenter!r}")
        trust_domain = d.get("trust_domain", "auto")
        if trust_domain != "auto" and not is_valid_trust_domain(trust_domain):
            self.problem("trust_domain", f"must be 'auto' or a DNS name, got {trust_domain!r}")
        inbound = d.get("inbound", {})
        inbound_listen = self.host_port("inbound.listen", inbound.get("listen", "0.0.0.0:20000"))
        admin = d.get("admin", {})
        admin_listen = self.host_port("admin.listen", admin.get("listen", "127.0.0.1:19100"))
        admin_allow_remote = admin.get("allow_remote", False)
        if not admin_allow_remote:
            self.loopback_only("admin.listen", admin_listen.host, admin_risk(), f"set {ADMIN_OPT_IN}: true")
        advertise = d.get("advertise_address")
        if advertise is None:
            advertise = primary_address() if _is_wildcard(inbound_listen.host) else inbound_listen.host
            if advertise is None:
                self.problem("advertise_address", "cannot be derived on this host; set it to the address peers dial")
                advertise = ""
        else:
            self._ip_or_name("advertise_address", advertise)
        services = self.services(d.get("services", []), node)
        data_plane: DataPlane = d.get("data_plane", "builtin")
        envoy = self.envoy(d.get("envoy", {})) if data_plane == "envoy" else EnvoySettings()
        unused: tuple[str, ...] = ("envoy",) if data_plane != "envoy" and "envoy" in d else ()
        self.check_port_clashes(
            services, inbound_listen, admin_listen, envoy.admin_listen if data_plane == "envoy" else None
        )
        return AgentConfig(
            node=node,
            datacenter=datacenter,
            advertise_address=advertise,
            log_level=d.get("log_level", "info"),
            access_log=self.access_log(d.get("access_log", "all")),
            consul=self.consul(d.get("consul", {})),
            vault=self.vault(d.get("vault")),
            trust_domain=trust_domain,
            inbound_listen=inbound_listen,
            mtls_mode=inbound.get("mtls_mode", "strict"),
            intentions_default=d.get("intentions", {}).get("default", "deny"),
            admin_listen=admin_listen,
            admin_allow_remote=admin_allow_remote,
            state_dir=d.get("state_dir", "/var/lib/mesh-agent"),
            services=services,
            data_plane=data_plane,
            envoy=envoy,
            tracing=self.tracing(d.get("tracing")),
            unused_sections=unused,
        )

    def envoy(self, e: dict[str, Any]) -> EnvoySettings:
        admin = self.host_port("envoy.admin_listen", e.get("admin_listen", "127.0.0.1:19000"))
        if not _is_loopback_ip(admin.host):
            # No opt-in, unlike the agent's admin: Envoy's admin can drain, reconfigure and stop the data
            # plane. A literal IP because Envoy binds socket addresses without resolving names.
            self.problem(
                "envoy.admin_listen",
                f"{admin.host!r} is not a loopback IP address: Envoy's admin interface can drain and stop "
                "this host's data plane, so it listens on loopback only; use 127.0.0.1",
            )
        binary = e.get("binary", "auto")
        if "/" in binary and not binary.startswith("/"):
            # Relative to whatever directory the agent was started in: / under systemd.
            self.problem("envoy.binary", f"must be auto, a command name on PATH, or an absolute path, got {binary!r}")
        return EnvoySettings(
            binary=binary,
            admin_listen=admin,
            concurrency=e.get("concurrency", 0),
        )

    def tracing(self, t: dict[str, Any] | None) -> TracingSettings | None:
        if t is None:
            return None
        endpoint = self.url("tracing.otlp_endpoint", t["otlp_endpoint"])
        parts = urlsplit(endpoint)
        if parts.query or parts.fragment:
            self.problem("tracing.otlp_endpoint", "must not have a query or fragment: spans go to <endpoint>/v1/traces")
        if parts.username is not None or parts.password is not None:
            # URLs end up in logs and status output; credentials do not belong there.
            self.problem("tracing.otlp_endpoint", "must not carry credentials (user:password@) in the URL")
        rate = t.get("sample_rate", 1.0)
        if not 0.0 <= rate <= 1.0:  # also refuses YAML's .nan, which compares false with everything
            self.problem(
                "tracing.sample_rate",
                f"must be a share between 0 and 1 inclusive (0.1 samples one trace in ten), got {rate!r}",
            )
            rate = 1.0
        return TracingSettings(
            otlp_endpoint=endpoint,
            sample_rate=float(rate),
            propagation=tuple(t.get("propagation", ("w3c",))),
        )

    @staticmethod
    def access_log(value: str | bool) -> AccessLogMode:
        # YAML 1.1 reads an unquoted `off` as false; that is what the operator meant.
        return "off" if value is False else cast(AccessLogMode, value)

    def _ip_or_name(self, path: str, value: str) -> None:
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            if not all(part and len(part) < 64 for part in value.split(".")):
                self.problem(path, f"must be an IP address or host name, got {value!r}")
            return
        if addr.is_unspecified:
            self.problem(path, f"must be an address peers can dial, not {value!r}")

    def consul(self, c: dict[str, Any]) -> ConsulSettings:
        prefix = c.get("config_prefix", "mesh/config").strip("/")
        if not prefix:
            self.problem("consul.config_prefix", "must not be empty")
        return ConsulSettings(
            address=self.url("consul.address", c.get("address", "http://127.0.0.1:8500")),
            token_file=self.file("consul.token_file", c.get("token_file")),
            ca_file=self.file("consul.ca_file", c.get("ca_file")),
            config_prefix=prefix,
        )

    def vault(self, v: dict[str, Any] | None) -> VaultSettings:
        if v is None:
            self.problem("vault", "is required: certificates come from Vault PKI")
            return VaultSettings()
        a = v.get("auth")
        auth = VaultAuth()
        if a is None:
            self.problem("vault.auth", "is required (method: token or approle)")
        else:
            needs: dict[str, tuple[str, ...]] = {
                "token": ("token_file",),
                "approle": ("role_id_file", "secret_id_file"),
            }
            for key in needs[a["method"]]:
                if key not in a:
                    self.problem(f"vault.auth.{key}", f"is required for method {a['method']!r}")
            for key in ("token_file", "role_id_file", "secret_id_file"):
                if key in a and key not in needs[a["method"]]:
                    self.problem(f"vault.auth.{key}", f"does not apply to method {a['method']!r}")
            auth = VaultAuth(
                method=a["method"],
                token_file=self.file("vault.auth.token_file", a.get("token_file")),
                role_id_file=self.file("vault.auth.role_id_file", a.get("role_id_file")),
                secret_id_file=self.file("vault.auth.secret_id_file", a.get("secret_id_file")),
                mount=a.get("mount", "approle"),
            )
        return VaultSettings(
            address=self.url("vault.address", v.get("address", "http://127.0.0.1:8200")),
            ca_file=self.file("vault.ca_file", v.get("ca_file")),
            auth=auth,
            pki_path=v.get("pki_path", "pki_int").strip("/"),
            pki_role=self.pki_role(v.get("pki_role", DEFAULT_PKI_ROLE)),
            cert_ttl=self.duration("vault.cert_ttl", v.get("cert_ttl", "24h"), minimum=10.0),
        )

    def pki_role(self, template: str) -> str:
        problem = pki_role_problem(template)
        if problem:
            self.problem("vault.pki_role", problem)
        return template

    def services(self, items: list[dict[str, Any]], node: str) -> tuple[LocalService, ...]:
        out: list[LocalService] = []
        seen_names: dict[str, int] = {}
        seen_ids: dict[str, int] = {}
        for i, s in enumerate(items):
            p = f"services[{i}]"
            name = s["name"]
            if not is_valid_service_name(name):
                self.problem(f"{p}.name", f"{name!r} is not a valid service name (letters, digits, dashes)")
            sid = s.get("id", f"{name}-{node}")
            for seen, key, value in ((seen_names, "name", name), (seen_ids, "id", sid)):
                if value in seen:
                    self.problem(f"{p}.{key}", f"{value!r} is already used by services[{seen[value]}]")
                seen[value] = i
            address = s.get("address", "127.0.0.1")
            self._ip_or_name(f"{p}.address", address)
            weights = s.get("weights", {})
            out.append(
                LocalService(
                    name=name,
                    id=sid,
                    port=s["port"],
                    address=address,
                    protocol=s.get("protocol", "tcp"),
                    tags=tuple(s.get("tags", ())),
                    meta=tuple(sorted(s.get("meta", {}).items())),
                    weight_passing=weights.get("passing", 1),
                    weight_warning=weights.get("warning", 1),
                    workload=s.get("workload", "vm"),
                    check=self.check(f"{p}.check", s.get("check"), address, s["port"]),
                    upstreams=self.upstreams(f"{p}.upstreams", s.get("upstreams", []), name),
                )
            )
        return tuple(out)

    def check(self, p: str, c: dict[str, Any] | None, address: str, port: int) -> HealthCheck | None:
        if c is None:
            return None
        http, tcp = c.get("http"), c.get("tcp", False)
        if bool(http) == bool(tcp):
            self.problem(p, "needs exactly one of 'http' (a path or URL) or 'tcp: true'")
        if http and http.startswith("/"):
            host = f"[{address}]" if ":" in address else address
            http = f"http://{host}:{port}{http}"
        elif http:
            http = self.url(f"{p}.http", http)
        interval = self.duration(f"{p}.interval", c.get("interval", "10s"), minimum=1.0)
        timeout = self.duration(f"{p}.timeout", c.get("timeout", "2s"))
        if timeout > interval:
            self.problem(f"{p}.timeout", "must not exceed the interval")
        dcsa = c.get("deregister_critical_service_after")
        return HealthCheck(
            http=http or None,
            tcp=bool(tcp),
            interval=interval,
            timeout=timeout,
            deregister_critical_service_after=(
                None if dcsa is None else self.duration(f"{p}.deregister_critical_service_after", dcsa, minimum=60.0)
            ),
        )

    def upstreams(self, p: str, items: list[dict[str, Any]], source: str) -> tuple[Upstream, ...]:
        out = []
        for i, u in enumerate(items):
            name = u["destination_name"]
            if not is_valid_service_name(name):
                self.problem(f"{p}[{i}].destination_name", f"{name!r} is not a valid service name")
            dc = u.get("datacenter")
            if dc is not None and not is_valid_service_name(dc):
                self.problem(f"{p}[{i}].datacenter", f"invalid datacenter name {dc!r}")
            bind_address = u.get("local_bind_address", "127.0.0.1")
            allow_remote = u.get("allow_remote_callers", False)
            risk, opt_in = upstream_risk(source, name), f"set {UPSTREAM_OPT_IN}: true on this upstream"
            if not allow_remote or not bind_address:
                self.loopback_only(f"{p}[{i}].local_bind_address", bind_address, risk, opt_in)
            out.append(
                Upstream(
                    destination_name=name,
                    local_bind_port=u["local_bind_port"],
                    local_bind_address=bind_address,
                    datacenter=dc,
                    allow_remote_callers=allow_remote,
                )
            )
        return tuple(out)

    def check_port_clashes(
        self, services: tuple[LocalService, ...], inbound: HostPort, admin: HostPort, envoy_admin: HostPort | None
    ) -> None:
        """Two listeners of this agent on one port: the second bind would fail at start-up."""
        taken: dict[int, tuple[str, str]] = {}

        def claim(path: str, hp: HostPort, on_clash: Callable[[str], None]) -> None:
            prev = taken.get(hp.port)
            if prev is not None and (prev[1] == hp.host or _is_wildcard(prev[1]) or _is_wildcard(hp.host)):
                on_clash(f"port {hp.port} is already used by {prev[0]}")
            taken.setdefault(hp.port, (path, hp.host))

        claim("inbound.listen", inbound, lambda m: None)
        claim("admin.listen", admin, lambda m: self.problem("admin.listen", m))
        if envoy_admin is not None:
            claim("envoy.admin_listen", envoy_admin, lambda m: self.problem("envoy.admin_listen", m))
        for i, s in enumerate(services):
            for j, u in enumerate(s.upstreams):
                path = f"services[{i}].upstreams[{j}].local_bind_port"
                claim(path, u.bind, lambda m, path=path: self.problem(path, m))  # type: ignore[misc]
