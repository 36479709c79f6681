"""Agent registrations read and validated as Consul does (agent_endpoint.go, structs).

Pure: a request body in, a Service and CheckSpecs out, or a RegistrationError carrying
Consul's 400 message ("Missing service name", "Validation failed: ...", "Invalid
check: ...").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.godurations import parse_go_duration
from mesh.devstack.consul.model import CONNECT_PROXY, VALID_STATUSES, Check, CheckSpec, Service
from mesh.durations import format_go_duration

_CHECK_TYPE_FIELDS = (
    Field("CheckID", aliases=("ID",)),
    Field("Name"),
    Field("Status"),
    Field("Notes"),
    Field("ServiceID"),
    Field("HTTP"),
    Field("Header"),
    Field("Method"),
    Field("Body"),
    Field("TLSSkipVerify"),
    Field("TLSServerName"),
    Field("TCP"),
    Field("TTL"),
    Field("Interval"),
    Field("Timeout"),
    Field("AliasService"),
    Field("AliasNode"),
    Field("DeregisterCriticalServiceAfter"),
    Field("ScriptArgs", aliases=("Args",)),
    Field("GRPC"),
    Field("H2PING"),
    Field("UDP"),
    Field("DockerContainerID"),
)
CHECK_FIELDS = schema(*_CHECK_TYPE_FIELDS)
_UPSTREAM = schema(
    Field("DestinationType"),
    Field("DestinationNamespace"),
    Field("DestinationPartition"),
    Field("DestinationPeer"),
    Field("DestinationName"),
    Field("Datacenter"),
    Field("LocalBindAddress"),
    Field("LocalBindPort"),
    Field("LocalBindSocketPath"),
    Field("Config"),
    Field("MeshGateway"),
    Field("CentrallyConfigured"),
)
_PROXY = schema(
    Field("DestinationServiceName"),
    Field("DestinationServiceID"),
    Field("LocalServiceAddress"),
    Field("LocalServicePort"),
    Field("LocalServiceSocketPath"),
    Field("Mode"),
    Field("TransparentProxy"),
    Field("Config"),
    Field("Upstreams", each=_UPSTREAM),
    Field("MeshGateway"),
    Field("Expose"),
)
_ADDRESS = schema(Field("Address"), Field("Port"))
SERVICE_FIELDS = schema(
    Field("ID"),
    Field("Name"),
    Field("Kind"),
    Field("Tags"),
    Field("Address"),
    Field("TaggedAddresses"),
    Field("Meta"),
    Field("Port"),
    Field("SocketPath"),
    Field("EnableTagOverride"),
    Field("Weights", nested=schema(Field("Passing"), Field("Warning"))),
    Field("Proxy", nested=_PROXY),
    Field("Connect", nested=schema(Field("Native"), Field("SidecarService"))),
    Field("Check", nested=CHECK_FIELDS),
    Field("Checks", each=CHECK_FIELDS),
    Field("Locality"),
)
# Consul's pattern; Go's `$` is the end of the text, hence fullmatch.
_META_KEY = re.compile(r"[a-zA-Z0-9_-]+")
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]"})


class RegistrationError(ValueError):
    """A registration Consul refuses; the message is the 400 body."""


def parse_service(body: Any, node: str) -> tuple[Service, list[CheckSpec]]:
    try:
        data = canonical(body, SERVICE_FIELDS, "structs.ServiceDefinition")
        specs_raw = ([data["Check"]] if data.get("Check") else []) + [c for c in data.get("Checks") or [] if c]
        name = str(data.get("Name") or "")
        if not name:
            raise RegistrationError("Missing service name")
        address = str(data.get("Address") or "")
        if address in _ANY_ADDRESS:
            raise RegistrationError("Invalid service address")
        svc = _service(data, node, name, address)
        specs = [_check_spec(raw) for raw in specs_raw]
    except DecodeError as exc:
        raise RegistrationError(f"Request decode failed: {exc}") from None
    _validate_service(svc)
    for spec in specs:
        _validate_status(spec.status, "Status for checks must 'passing', 'warning', 'critical'")
    return svc, _name_service_checks(specs, svc)


def parse_check(body: Any) -> CheckSpec:
    try:
        data = canonical(body, CHECK_FIELDS, "structs.CheckDefinition")
        name = str(data.get("Name") or "")
        if not name:
            raise RegistrationError("Missing check name")
        if data.get("Status") and data["Status"] not in VALID_STATUSES:
            raise RegistrationError("Bad check status")
        spec = _check_spec(data)
    except DecodeError as exc:
        raise RegistrationError(f"Request decode failed: {exc}") from None
    return spec if spec.check_id else _with_id(spec, name)


def check_record(spec: CheckSpec, node: str, svc: Service | None) -> Check:
    """The catalog record for a newly registered check (critical unless told otherwise)."""
    definition: dict[str, Any] = {}
    for key, value in (
        ("HTTP", spec.http),
        ("TLSSkipVerify", spec.tls_skip_verify),
        ("Header", spec.header),
        ("Method", spec.method),
        ("Body", spec.body),
        ("TCP", spec.tcp),
    ):
        if value:
            definition[key] = value
    for key, seconds in (
        ("Interval", spec.interval),
        ("Timeout", spec.timeout),
        ("DeregisterCriticalServiceAfter", spec.deregister_critical_service_after),
        ("TTL", spec.ttl),
    ):
        if seconds:
            definition[key] = format_go_duration(seconds)
    return Check(
        node=node,
        check_id=spec.check_id,
        name=spec.name,
        status=spec.status or "critical",
        notes=spec.notes,
        service_id=svc.id if svc else "",
        service_name=svc.name if svc else "",
        service_tags=svc.tags if svc else (),
        type=spec.type,
        interval=format_go_duration(spec.interval),
        timeout=format_go_duration(spec.timeout),
        definition=definition,
    )


# -- service ------------------------------------------------------------------------


def _service(data: Mapping[str, Any], node: str, name: str, address: str) -> Service:
    weights_raw = data.get("Weights")
    weights = {"Passing": 1, "Warning": 1}
    if isinstance(weights_raw, Mapping):
        weights = {"Passing": _int(weights_raw.get("Passing"), "Weights.Passing"), "Warning": 0}
        weights["Warning"] = _int(weights_raw.get("Warning"), "Weights.Warning")
    tagged = {}
    for key, value in (data.get("TaggedAddresses") or {}).items():
        addr = canonical(value, _ADDRESS, "structs.ServiceAddress")
        tagged[str(key)] = {"Address": str(addr.get("Address") or ""), "Port": _int(addr.get("Port"), "Port")}
    kind = str(data.get("Kind") or "")
    proxy = dict(data.get("Proxy") or {}) if kind else {}
    if proxy.get("Upstreams"):
        proxy["Upstreams"] = [_upstream(u) for u in proxy["Upstreams"]]
    connect = {"Native": True} if (data.get("Connect") or {}).get("Native") else {}
    meta = data.get("Meta")
    return Service(
        node=node,
        id=str(data.get("ID") or name),
        name=name,
        kind=kind,
        tags=tuple(str(t) for t in data.get("Tags") or ()),
        address=address,
        port=_int(data.get("Port"), "Port"),
        meta={str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) and meta else None,
        tagged_addresses=tagged,
        weights=weights,
        enable_tag_override=bool(data.get("EnableTagOverride")),
        proxy=proxy,
        connect=connect,
        socket_path=str(data.get("SocketPath") or ""),
        locality=data.get("Locality") or None,
    )


def _upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = {"DestinationType": "service", **raw}
    return {k: v for k, v in out.items() if v not in (None, "")}


def _validate_service(svc: Service) -> None:
    if svc.weights["Passing"] < 1:
        raise RegistrationError("Invalid Weights: Passing must be greater than 0")
    if svc.weights["Warning"] < 0:
        raise RegistrationError("Invalid Weights: Warning must be greater or equal than 0")
    _validate_meta(svc.meta or {})
    problems: list[str] = []
    if svc.kind == CONNECT_PROXY:
        dest = str(svc.proxy.get("DestinationServiceName") or "").strip()
        if not dest:
            problems.append("Proxy.DestinationServiceName must be non-empty for Connect proxy services")
        elif dest == "*":
            problems.append("Proxy.DestinationServiceName must not be a wildcard for Connect proxy services")
        if svc.port == 0 and not svc.socket_path:
            problems.append(f"Port or SocketPath must be set for a {svc.kind}")
        problems.extend(_upstream_problems(svc.proxy.get("Upstreams") or []))
    if problems:
        raise RegistrationError(f"Validation failed: {multierror(problems)}")


def _upstream_problems(upstreams: list[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    seen_names: set[tuple[str, str]] = set()
    seen_binds: set[str] = set()
    for u in upstreams:
        name = str(u.get("DestinationName") or "")
        if not name:
            problems.append("upstream destination name cannot be empty")
            continue
        if not u.get("LocalBindPort") and not u.get("LocalBindSocketPath"):
            problems.append("upstream local bind port or local socket path must be defined and nonzero")
            continue
        key = (name, str(u.get("Datacenter") or ""))
        if key in seen_names:
            problems.append(f"upstreams cannot contain duplicates of {name}")
            continue
        seen_names.add(key)
        bind = f"{u.get('LocalBindAddress') or '127.0.0.1'}:{u.get('LocalBindPort')}"
        if bind in seen_binds:
            problems.append(f"upstreams cannot contain duplicates by local bind address and port; {bind} is repeated")
        seen_binds.add(bind)
    return problems


def _validate_meta(meta: Mapping[str, str]) -> None:
    if len(meta) > 64:
        raise RegistrationError("Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs")
    for key, value in meta.items():
        if not key:
            raise RegistrationError("Invalid Service Meta: Key cannot be blank")
        if not _META_KEY.fullmatch(key):
            raise RegistrationError(f"Invalid Service Meta: Key contains invalid characters: {key}")
        if len(key) > 128:
            raise RegistrationError(f"Invalid Service Meta: Key is too long (limit: 128 characters): {key}")
        if key.startswith("consul-"):
            raise RegistrationError(f"Invalid Service Meta: Key prefix 'consul-' is reserved for internal use: {key}")
        if len(value) > 512:
            raise RegistrationError(f"Invalid Service Meta: Value is too long (limit: 512 characters): {key}")


def multierror(problems: list[str]) -> str:
    """go-multierror's rendering, which Consul puts in its messages verbatim."""
    head = "1 error occurred:" if len(problems) == 1 else f"{len(problems)} errors occurred:"
    return head + "".join(f"\n\t* {p}" for p in problems) + "\n\n"


# -- checks -------------------------------------------------------------------------


def _check_spec(data: Mapping[str, Any]) -> CheckSpec:
    if data.get("ScriptArgs") or data.get("GRPC") or data.get("H2PING") or data.get("UDP"):
        raise RegistrationError("Invalid check: only HTTP, TCP, TTL and alias checks run in the devstack stand-in")
    try:
        spec = CheckSpec(
            check_id=str(data.get("CheckID") or ""),
            name=str(data.get("Name") or ""),
            service_id=str(data.get("ServiceID") or ""),
            status=str(data.get("Status") or ""),
            notes=str(data.get("Notes") or ""),
            http=str(data.get("HTTP") or ""),
            method=str(data.get("Method") or ""),
            header={str(k): [str(x) for x in v] for k, v in (data.get("Header") or {}).items()},
            body=str(data.get("Body") or ""),
            tls_skip_verify=bool(data.get("TLSSkipVerify")),
            tcp=str(data.get("TCP") or ""),
            ttl=parse_go_duration(data.get("TTL")),
            interval=parse_go_duration(data.get("Interval")),
            timeout=parse_go_duration(data.get("Timeout")),
            alias_service=str(data.get("AliasService") or ""),
            alias_node=str(data.get("AliasNode") or ""),
            deregister_critical_service_after=parse_go_duration(data.get("DeregisterCriticalServiceAfter")),
        )
    except ValueError as exc:
        raise RegistrationError(f"Request decode failed: {exc}") from None
    _validate_check_type(spec)
    return spec


def _validate_check_type(spec: CheckSpec) -> None:
    """structs.CheckType.Validate, with its messages."""
    interval_check = bool(spec.http or spec.tcp)
    alias = bool(spec.alias_service or spec.alias_node)
    if spec.interval > 0 and spec.ttl > 0:
        raise RegistrationError("Invalid check: Interval and TTL cannot both be specified")
    if interval_check and spec.interval <= 0:
        raise RegistrationError("Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks")
    if interval_check and alias:
        raise RegistrationError("Invalid check: Interval cannot be set for Alias checks")
    if alias and spec.ttl > 0:
        raise RegistrationError("Invalid check: TTL must be not be set for Alias checks")
    if not interval_check and not alias and spec.ttl <= 0:
        raise RegistrationError("Invalid check: TTL must be > 0 for TTL checks")


def _validate_status(status: str, message: str) -> None:
    if status and status not in VALID_STATUSES:
        raise RegistrationError(message)


def _name_service_checks(specs: list[CheckSpec], svc: Service) -> list[CheckSpec]:
    """Default IDs `service:<id>[:n]` and names `Service '<name>' check`, as AddService does."""
    named = []
    for i, spec in enumerate(specs, start=1):
        check_id = spec.check_id or (f"service:{svc.id}" + (f":{i}" if len(specs) > 1 else ""))
        name = spec.name or f"Service '{svc.name}' check"
        named.append(_with_id(spec, check_id, name=name, service_id=svc.id))
    return named


def _with_id(spec: CheckSpec, check_id: str, *, name: str | None = None, service_id: str | None = None) -> CheckSpec:
    return dataclasses.replace(
        spec,
        check_id=check_id,
        name=spec.name if name is None else name,
        service_id=spec.service_id if service_id is None else service_id,
    )


def _int(value: Any, where: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DecodeError(f"cannot decode {where}: expected a number")
    try:
        return int(value)
    except ValueError:
        raise DecodeError(f"cannot decode {where}: expected a number") from None
