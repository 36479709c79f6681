"""The records the stand-in stores: catalog nodes, service instances, checks, KV entries.

Records are immutable; a write replaces a record with `dataclasses.replace`. `content()`
leaves out the Raft indexes, so a write that changes nothing can be recognised and
skipped, as Consul's state store skips it (a re-registration must not wake watchers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

PASSING = "passing"
WARNING = "warning"
CRITICAL = "critical"
VALID_STATUSES = (PASSING, WARNING, CRITICAL)

CONNECT_PROXY = "connect-proxy"


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    address: str
    datacenter: str
    tagged_addresses: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0

    def content(self) -> Node:
        return dataclasses.replace(self, create_index=0, modify_index=0)


@dataclass(frozen=True)
class Service:
    """One service instance on one node (Consul's NodeService plus its node name)."""

    node: str
    id: str
    name: str
    kind: str = ""
    tags: tuple[str, ...] = ()
    address: str = ""
    port: int = 0
    meta: dict[str, str] | None = None
    tagged_addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=lambda: {"Passing": 1, "Warning": 1})
    enable_tag_override: bool = False
    proxy: dict[str, Any] = field(default_factory=dict)
    connect: dict[str, Any] = field(default_factory=dict)
    socket_path: str = ""
    locality: dict[str, Any] | None = None
    create_index: int = 0
    modify_index: int = 0

    def content(self) -> Service:
        return dataclasses.replace(self, create_index=0, modify_index=0)

    @property
    def destination(self) -> str:
        """The service a connect-proxy fronts ("" for anything else)."""
        if self.kind != CONNECT_PROXY:
            return ""
        return str(self.proxy.get("DestinationServiceName") or "")

    @property
    def connect_native(self) -> bool:
        return bool(self.connect.get("Native"))


@dataclass(frozen=True)
class Check:
    """A health check as the catalog stores it (Consul's HealthCheck)."""

    node: str
    check_id: str
    name: str
    status: str = CRITICAL
    notes: str = ""
    output: str = ""
    service_id: str = ""
    service_name: str = ""
    service_tags: tuple[str, ...] = ()
    type: str = ""
    interval: str = ""
    timeout: str = ""
    exposed_port: int = 0
    definition: dict[str, Any] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0

    def content(self) -> Check:
        return dataclasses.replace(self, create_index=0, modify_index=0)


@dataclass(frozen=True)
class CheckSpec:
    """How to run a check the agent owns (Consul's CheckType), durations in seconds."""

    check_id: str
    name: str
    service_id: str = ""
    status: str = ""
    notes: str = ""
    http: str = ""
    method: str = ""
    header: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    tls_skip_verify: bool = False
    tcp: str = ""
    ttl: float = 0.0
    interval: float = 0.0
    timeout: float = 0.0
    alias_service: str = ""
    alias_node: str = ""
    deregister_critical_service_after: float = 0.0

    @property
    def type(self) -> str:
        if self.http:
            return "http"
        if self.tcp:
            return "tcp"
        if self.ttl:
            return "ttl"
        if self.alias_service or self.alias_node:
            return "alias"
        return ""


@dataclass(frozen=True)
class KVEntry:
    key: str
    value: bytes | None
    flags: int = 0
    lock_index: int = 0
    session: str = ""
    create_index: int = 0
    modify_index: int = 0
