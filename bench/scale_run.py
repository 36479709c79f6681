"""The scale case run: one agent, then one Envoy, each configured for the whole host and read idle.

Both read the same remote endpoints: registered once in the Consul stand-in before either
starts (the agent learns them by watching, as it would on a real host; Envoy gets them as
static cluster members, as a generated bootstrap would list them). Each proxy runs alone:
started, waited on until it says it holds everything (the agent's `/v1/status` lists all
1,000 endpoints; Envoy's stats count 80 active listeners and clusters and 1,000 members),
left idle for IDLE_S so start-up garbage and timers settle, its RSS read, then stopped.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from bench.envoy_config import Address, Inbound, Outbound, scale_bootstrap
from bench.envoy_pair import DATACENTER, issue_leaf, start_envoy
from bench.mesh_pair import agent_ready, consul_client, start_agent
from bench.paths import CLIENT_SERVICE, HOST_A, HOST_B, get
from bench.procfs import rss_kib
from bench.report import ScaleRow
from bench.scale_topology import (
    CASE,
    ScaleTopology,
    agent_services,
    applied_endpoints,
    envoy_holds,
    parse_envoy_stats,
    remote_registration,
)
from bench.supervisor import Supervisor, free_port, free_ports
from mesh.identity import ServiceIdentity

IDLE_S = 5.0
READY_TIMEOUT_S = 90.0  # 20 leaves to sign and 60 watches to answer on a busy machine


def register_remote_endpoints(info: dict[str, Any], topo: ScaleTopology) -> None:
    """Every remote endpoint as a `connect-proxy` instance, and `bench-client` allowed to each local service."""
    client = consul_client(info)
    for endpoint in topo.endpoints:
        client.agent.service.register(**remote_registration(endpoint))
    for service in topo.services:
        client.connect.intentions.upsert(CLIENT_SERVICE, service.name, action="allow")


def _status(admin: str) -> dict[str, Any]:
    answer = get(f"{admin}/v1/status", timeout=5)
    if answer is None or answer[0] != 200:
        return {}
    document: dict[str, Any] = json.loads(answer[1])
    return document


def measure_agent(
    supervisor: Supervisor, workdir: Path, info: dict[str, Any], topo: ScaleTopology, access_log: str
) -> ScaleRow:
    name = "agent-scale"
    ports = free_ports(HOST_A, len(topo.services) + len(topo.destinations))  # one call: all distinct
    services = agent_services(topo, HOST_A, ports[: len(topo.services)], ports[len(topo.services) :])
    proc, admin = start_agent(supervisor, workdir, info, name, HOST_A, services, access_log)
    try:
        supervisor.wait_until(
            name, proc, functools.partial(agent_ready, admin), timeout=READY_TIMEOUT_S, what="ready (GET /ready 200)"
        )
        want = len(topo.endpoints)
        supervisor.wait_until(
            name,
            proc,
            lambda: applied_endpoints(_status(admin)) >= want,
            timeout=READY_TIMEOUT_S,
            what=f"holding all {want:,} endpoints (GET /v1/status)",
        )
        time.sleep(IDLE_S)
        rss = rss_kib(proc.pid)
        held = applied_endpoints(_status(admin))
    finally:
        supervisor.stop(proc)
    return ScaleRow("mesh", CASE, 1, len(topo.destinations), held, rss)


def _envoy_stats(admin: Address) -> dict[str, int]:
    answer = get(f"http://{admin.host}:{admin.port}/stats", timeout=5)
    return parse_envoy_stats(answer[1].decode(errors="replace")) if answer is not None and answer[0] == 200 else {}


def measure_envoy(
    supervisor: Supervisor, envoy: str, workdir: Path, info: dict[str, Any], topo: ScaleTopology
) -> ScaleRow:
    name = "envoy-scale"
    td = info["trust_domain"]
    home = workdir / name
    (home / "pki").mkdir(parents=True, mode=0o700)
    leaves = {s.name: issue_leaf(info, ServiceIdentity(td, DATACENTER, s.name), home / "pki") for s in topo.services}
    ports = iter(free_ports(HOST_B, len(topo.services) + len(topo.destinations)))  # one call: all distinct
    apps = iter(free_ports("127.0.0.1", len(topo.services)))
    inbound = [
        Inbound(
            s.name,
            Address(HOST_B, next(ports)),
            ServiceIdentity(td, DATACENTER, s.name).sni,
            leaves[s.name],
            Address("127.0.0.1", next(apps)),
        )
        for s in topo.services
    ]
    outbound = [
        Outbound(
            d,
            Address(HOST_B, next(ports)),
            ServiceIdentity(td, DATACENTER, d).sni,
            ServiceIdentity(td, DATACENTER, d).spiffe_id,
            leaves[s.name],
            tuple(Address(e.address, e.port) for e in topo.endpoints_of(d)),
        )
        for s in topo.services
        for d in s.upstreams
    ]
    admin = Address("127.0.0.1", free_port("127.0.0.1"))
    client_spiffe = ServiceIdentity(td, DATACENTER, CLIENT_SERVICE).spiffe_id
    bootstrap = scale_bootstrap(mode="L7", inbound=inbound, outbound=outbound, client_spiffe=client_spiffe, admin=admin)
    proc = start_envoy(supervisor, envoy, name, bootstrap, home / "envoy.yaml", admin)
    listeners = len(inbound) + len(outbound)
    expected = (listeners, listeners, len(topo.endpoints))  # listeners, clusters (one each), members

    def complete() -> bool:
        return envoy_holds(_envoy_stats(admin), topo) == expected

    try:
        supervisor.wait_until(
            name, proc, complete, timeout=READY_TIMEOUT_S, what=f"holding {listeners} listeners and clusters (stats)"
        )
        time.sleep(IDLE_S)
        rss = rss_kib(proc.pid)
        held = envoy_holds(_envoy_stats(admin), topo)[2]
    finally:
        supervisor.stop(proc)
    return ScaleRow("envoy", CASE, len(inbound), len(outbound), held, rss)
