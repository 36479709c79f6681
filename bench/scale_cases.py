"""The estate-scale cases of issue 18 and what they are made of (pure, but for reading a log).

One host agent carries `services` local services with `per_service` upstreams each, every
upstream a distinct destination. The destinations are the first of `remote_services` remote
services whose `remote_instances` instances are dealt round robin over them, so a case can hold
1,000 endpoints over 60 destinations (16 or 17 each) or 1,500 of 2,000 (10 each, 50 remote
services nobody on the host calls). Remote instances need no agent: each is a `connect-proxy`
registration in the stand-in's catalog at a dummy address (10.78.0.0/16, never dialed) carrying
its destination the way `mesh/consul/registration.py` writes it.

A few instances (the flip pool: instance 0 of the first destinations) carry a TTL check,
registered passing, that the run turns critical and back to time "an endpoint going critical
until no longer picked" and to flip endpoints under load; the others have no check (passing).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REMOTE_INBOUND_PORT = 20000
FLIP_POOL = 32  # instances with a TTL check (at most one per destination)
FLIP_TTL = "24h"  # never lapses within a run: only the bench moves these checks
CALLER = "est-caller"  # the source of the intentions the run changes
CONFIG_PREFIX = "mesh/config"


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the table: a host of that size against that estate."""

    key: str  # names the case on the command line
    services: int
    per_service: int
    remote_services: int
    remote_instances: int

    def __post_init__(self) -> None:
        if min(self.services, self.per_service, self.remote_services, self.remote_instances) < 1:
            raise ValueError(f"case {self.key}: every count must be at least 1")
        if self.destinations > self.remote_services:
            raise ValueError(f"case {self.key}: {self.destinations} destinations but {self.remote_services} services")

    @property
    def destinations(self) -> int:
        return self.services * self.per_service

    @property
    def endpoints(self) -> int:
        """Instances of the destinations: what the agent must hold."""
        return sum(1 for n in range(self.remote_instances) if n % self.remote_services < self.destinations)

    @property
    def title(self) -> str:
        if self.services == 1 and self.per_service == 1:
            return f"1 service, 1 upstream ({self.endpoints:,} endpoints)"
        return f"{self.services} x {self.per_service} ({self.destinations} destinations), {self.endpoints:,} endpoints"


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case("1x1", 1, 1, 1, 3),
        Case("20x3", 20, 3, 60, 1000),
        Case("50x3", 50, 3, 200, 2000),  # the acceptance case: 200 remote services x 10 instances
        Case("500", 50, 10, 500, 1500),  # 500 distinct destinations, 3 instances each
    )
}


def local_name(i: int) -> str:
    return f"est-svc-{i:03d}"


def remote_name(i: int) -> str:
    return f"est-dest-{i:03d}"


def upstreams_of(case: Case, service: int) -> tuple[str, ...]:
    return tuple(remote_name(service * case.per_service + j) for j in range(case.per_service))


def destination_names(case: Case) -> tuple[str, ...]:
    return tuple(remote_name(d) for d in range(case.destinations))


@dataclass(frozen=True, slots=True)
class RemoteInstance:
    service: str
    ordinal: int  # among its service's instances, 0-based
    number: int  # among all remote instances, 0-based
    checked: bool  # carries a flip-pool TTL check

    @property
    def proxy_id(self) -> str:
        return f"{self.service}-{self.ordinal}-sidecar-proxy"

    @property
    def check_id(self) -> str:
        return f"est-flip:{self.proxy_id}"

    @property
    def address(self) -> str:
        return f"10.78.{self.number // 250}.{self.number % 250 + 1}"


def remote_instances(case: Case) -> tuple[RemoteInstance, ...]:
    seen: dict[int, int] = {}
    out = []
    for n in range(case.remote_instances):
        s = n % case.remote_services
        ordinal = seen.get(s, 0)
        seen[s] = ordinal + 1
        checked = ordinal == 0 and s < min(FLIP_POOL, case.destinations)
        out.append(RemoteInstance(remote_name(s), ordinal, n, checked))
    return tuple(out)


def flip_pool(case: Case) -> tuple[RemoteInstance, ...]:
    return tuple(i for i in remote_instances(case) if i.checked)


def registration(instance: RemoteInstance) -> dict[str, Any]:
    """The body of `PUT /v1/agent/service/register` for one remote instance's proxy."""
    body: dict[str, Any] = {
        "Name": f"{instance.service}-sidecar-proxy",
        "ID": instance.proxy_id,
        "Address": instance.address,
        "Port": REMOTE_INBOUND_PORT,
        "Kind": "connect-proxy",
        "Meta": {"workload": "vm", "mesh-agent": f"remote-host-{instance.number}"},
        "Proxy": {
            "DestinationServiceName": instance.service,
            "DestinationServiceID": f"{instance.service}-{instance.ordinal}",
            "LocalServiceAddress": "127.0.0.1",
            "LocalServicePort": 8080,
            "Config": {"protocol": "http"},
        },
    }
    if instance.checked:
        body["Check"] = {"CheckID": instance.check_id, "Name": "bench flip", "TTL": FLIP_TTL, "Status": "passing"}
    return body


def agent_services(case: Case, host: str, app_ports: Sequence[int], bind_ports: Sequence[int]) -> list[dict[str, Any]]:
    """The agent config's `services`: each local service with its upstream listeners."""
    if len(app_ports) != case.services or len(bind_ports) != case.destinations:
        raise ValueError("one app port per local service and one bind port per upstream")
    binds = iter(bind_ports)
    return [
        {
            "name": local_name(i),
            "port": app_ports[i],
            "address": host,
            "protocol": "http",
            "upstreams": [
                {"destination_name": d, "local_bind_address": host, "local_bind_port": next(binds)}
                for d in upstreams_of(case, i)
            ],
        }
        for i in range(case.services)
    ]


def kv_document(sample: int) -> tuple[str, str]:
    """(key, JSON) of the sample's traffic document: a resolver whose connect timeout moves each time."""
    return f"{CONFIG_PREFIX}/service-resolver/{remote_name(0)}", f'{{"ConnectTimeout": "{1000 + sample}ms"}}'


# -- reading what the agent and the stand-in say ---------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_sum(text: str, name: str, *, exclude_label: str = "") -> float:
    """The sum of every sample of `name` in Prometheus text (labels ignored, except samples
    carrying `exclude_label`, e.g. `result="ok"`)."""
    total = 0.0
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None or m.group(1) != name or (exclude_label and exclude_label in (m.group(2) or "")):
            continue
        try:
            total += float(m.group(3))
        except ValueError:
            continue
    return total


def endpoint_count(status: Mapping[str, Any], destination: str) -> int | None:
    """How many endpoints the agent's `/v1/status` holds for `destination` (any datacenter)."""
    counts = status.get("endpoint_counts")
    if isinstance(counts, Mapping):
        found = [int(v) for k, v in counts.items() if str(k).split("@", 1)[0] == destination]
        return sum(found) if found else None
    endpoints = status.get("endpoints")
    if isinstance(endpoints, Mapping):
        lists = [v for k, v in endpoints.items() if str(k).split("@", 1)[0] == destination and isinstance(v, list)]
        return sum(len(v) for v in lists) if lists else None
    return None


def total_endpoints(status: Mapping[str, Any]) -> int:
    counts = status.get("endpoint_counts")
    if isinstance(counts, Mapping):
        return sum(int(v) for v in counts.values())
    endpoints = status.get("endpoints")
    if isinstance(endpoints, Mapping):
        return sum(len(v) for v in endpoints.values() if isinstance(v, list))
    return 0


def config_version(status: Mapping[str, Any], key: str) -> int:
    versions = status.get("config_versions")
    value = versions.get(key) if isinstance(versions, Mapping) else None
    return int(value) if isinstance(value, int) else 0


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest rank: with 30 samples p99 is the largest, p50 the median."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    if q == 50:
        return float(statistics.median(ordered))
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


FAIL_STATIC_EVENT = "fail-static: serving the last good snapshot"  # agent/runtime.py, once per episode


def count_log_events(lines: Iterable[str]) -> tuple[int, int]:
    """(fail-static episodes, warnings and errors) in the agent's JSON log lines.

    Read from the log rather than by scraping `mesh_fail_static` every second: a scrape renders
    every metric on the agent's event loop, which is what the run measures.
    """
    episodes = problems = 0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("event") == FAIL_STATIC_EVENT:
            episodes += 1
        if event.get("level") in ("warning", "error", "critical"):
            problems += 1
    return episodes, problems


def applied_at(lines: Iterable[bytes], key: str, modify_index: int) -> float | None:
    """The Unix time at which the agent logged `key` at `modify_index` applied, if one of `lines` says so."""
    for line in lines:
        if b"traffic document applied" not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("key") == key and event.get("modify_index") == modify_index:
            return datetime.fromisoformat(str(event["ts"])).timestamp()
    return None


def log_events(path: Path) -> tuple[int, int]:
    try:
        with path.open(errors="replace") as log:
            return count_log_events(log)
    except FileNotFoundError:
        return 0, 0
