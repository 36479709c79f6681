"""The scale case on the Envoy plane: one agent with `data_plane: envoy` holding the whole host
(20 services, 60 upstreams, 1,000 endpoints), and the Envoy it drives, read idle.

The same host as bench/scale_run.py's builtin agent (same services, same registered endpoints);
here the memory is two processes, the agent (control plane: watches, certificates, the compiled
snapshot, the xDS server) and its Envoy (the listeners, clusters and endpoints over xDS), and
the row reports both and their sum. Measured once the agent is ready (/ready waits for Envoy to
have accepted every type) and lists every endpoint, and Envoy's stats count them all as cluster
members; then left idle for IDLE_S as the other scale rows are. The remote endpoints' addresses
are never dialed: nothing sends a request and the clusters have no active health checks.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from bench.mesh_pair import agent_ready, envoy_child, envoy_plane_config, envoy_stats, start_agent
from bench.paths import HOST_A, get
from bench.procfs import rss_kib
from bench.report import ScaleRow
from bench.scale_run import IDLE_S, READY_TIMEOUT_S
from bench.scale_topology import CASE, ScaleTopology, agent_services, applied_endpoints
from bench.supervisor import StartupError, Supervisor, free_ports


def _status(admin: str) -> dict[str, Any]:
    answer = get(f"{admin}/v1/status", timeout=5)
    document: dict[str, Any] = json.loads(answer[1]) if answer is not None and answer[0] == 200 else {}
    return document


def upstream_members(stats: dict[str, int], topo: ScaleTopology) -> int:
    """Endpoints in the clusters of the topology's destinations, as the agent's Envoy names them
    (`<service>/<destination>.default.<dc>.internal.<trust domain>`: one cluster per upstream)."""
    wanted = {f"/{d}." for d in topo.destinations}
    return sum(
        v
        for k, v in stats.items()
        if k.startswith("cluster.") and k.endswith(".membership_total") and any(w in k for w in wanted)
    )


def measure_agent_on_envoy(
    supervisor: Supervisor, workdir: Path, info: dict[str, Any], topo: ScaleTopology, access_log: str
) -> ScaleRow:
    name = "agent-scale-envoy"
    ports = free_ports(HOST_A, len(topo.services) + len(topo.destinations))  # one call: all distinct
    services = agent_services(topo, HOST_A, ports[: len(topo.services)], ports[len(topo.services) :])
    (admin_port,) = free_ports("127.0.0.1", 1)
    extra = envoy_plane_config("127.0.0.1", admin_port)
    proc, admin = start_agent(supervisor, workdir, info, name, HOST_A, services, access_log, extra)
    envoy_admin = f"http://127.0.0.1:{admin_port}"
    want = len(topo.endpoints)
    try:
        supervisor.wait_until(
            name, proc, functools.partial(agent_ready, admin), timeout=READY_TIMEOUT_S, what="ready (GET /ready 200)"
        )
        supervisor.wait_until(
            name,
            proc,
            lambda: applied_endpoints(_status(admin)) >= want,
            timeout=READY_TIMEOUT_S,
            what=f"holding all {want:,} endpoints (GET /v1/status)",
        )
        supervisor.wait_until(
            name,
            proc,
            lambda: upstream_members(envoy_stats(envoy_admin), topo) >= want,
            timeout=READY_TIMEOUT_S,
            what=f"its Envoy holding all {want:,} endpoints (stats)",
        )
        envoy = envoy_child(supervisor, name, proc)
        time.sleep(IDLE_S)
        agent_rss, envoy_rss = rss_kib(proc.pid), rss_kib(envoy)
        held = upstream_members(envoy_stats(envoy_admin), topo)
    finally:
        supervisor.stop(proc)
    if agent_rss is None or envoy_rss is None:
        raise StartupError(name, "the agent or its Envoy was gone when its memory was read", supervisor.log_path(name))
    return ScaleRow(
        "mesh-envoy", CASE, 1, len(topo.destinations), held, agent_rss + envoy_rss, parts_kib=(agent_rss, envoy_rss)
    )
