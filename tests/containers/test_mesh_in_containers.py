"""The main end-to-end scenarios with every piece in a container: real Consul, real Vault,
agents from the Dockerfile in both layouts (sidecar; one agent per container host)."""

from __future__ import annotations

import json

import pytest

from tests.containers.conftest import BATCH_UPSTREAM, WEB_UPSTREAM, Topology
from tests.containers.estate import call, poll

pytestmark = pytest.mark.containers


def served(topology: Topology, port: int, times: int) -> set[str | None]:
    return {call(topology.upstream(port)) for _ in range(times)}


def test_an_allowed_pair_reaches_both_sidecars_over_mtls(topology: Topology) -> None:
    topology.mesh.allow("web", "api")
    poll("web -> api", lambda: call(topology.upstream(WEB_UPSTREAM)), timeout=10)
    seen: list[str | None] = []
    poll(
        "connections served by both sidecars",
        lambda: seen.append(call(topology.upstream(WEB_UPSTREAM))) or {"api-1", "api-2"} <= set(seen),
        timeout=10,
        interval=0,
    )
    assert None not in seen


def test_a_denied_pair_is_refused(topology: Topology) -> None:
    topology.mesh.allow("web", "api")
    topology.mesh.deny("batch", "api")
    poll("web -> api", lambda: call(topology.upstream(WEB_UPSTREAM)), timeout=10)
    assert served(topology, BATCH_UPSTREAM, 4) == {None}


def test_container_services_are_registered_as_container_workloads_at_their_addresses(topology: Topology) -> None:
    consul = topology.mesh.consul()
    for name, address in topology.app_addresses.items():
        _, entries = consul.health.service(name)
        assert [(e["Service"]["Address"], e["Service"]["Meta"]["workload"]) for e in entries] == [
            (address, "container")
        ]
    _, proxies = consul.health.connect("api")
    sidecars = {topology.mesh.address(app) for app, _ in topology.api.values()}
    assert {e["Service"]["Address"] for e in proxies} == sidecars
    assert {e["Service"]["Meta"]["workload"] for e in proxies} == {"container"}


def _split_to(topology: Topology, subset: str, instance: str) -> None:
    splitter = {"Splits": [{"Weight": 100, "ServiceSubset": subset}]}
    assert topology.mesh.consul().kv.put("mesh/config/service-splitter/api", json.dumps(splitter))
    poll(f"split to {subset}", lambda: call(topology.upstream(WEB_UPSTREAM)) == instance, timeout=10)
    assert served(topology, WEB_UPSTREAM, 6) == {instance}


def test_a_kv_splitter_moves_new_connections_between_sidecars(topology: Topology) -> None:
    kv = topology.mesh.consul().kv
    resolver = {
        "DefaultSubset": "v1",
        "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}},
    }
    topology.mesh.allow("web", "api")
    try:
        assert kv.put("mesh/config/service-resolver/api", json.dumps(resolver))
        _split_to(topology, "v2", "api-2")
        _split_to(topology, "v1", "api-1")
    finally:
        kv.delete("mesh/config/service-splitter/api")
        kv.delete("mesh/config/service-resolver/api")


def _serial(topology: Topology, service: str) -> str:
    doc = topology.mesh.status(topology.host_agent)
    (entry,) = [s for s in doc["services"] if s["name"] == service]
    return str(entry["certificate"]["serial"])


def test_leaves_rotate_before_expiry_and_traffic_keeps_flowing(topology: Topology) -> None:
    topology.mesh.allow("web", "api")
    first = _serial(topology, "web")
    outcomes: list[str | None] = []

    def rotated() -> bool:
        outcomes.append(call(topology.upstream(WEB_UPSTREAM)))
        return _serial(topology, "web") != first

    # 30-second leaves renew between 60% and 90% of their lifetime (Consul's rule).
    poll("web's leaf to rotate", rotated, timeout=35, interval=0.5)
    outcomes += [call(topology.upstream(WEB_UPSTREAM)) for _ in range(5)]
    assert None not in outcomes
