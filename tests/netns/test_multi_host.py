"""Agents on three hosts joined by a real (virtual) network: the L4 mesh across host boundaries.

Each host is a network namespace with its own address; the only way between them is the
bridge, so a refused or cut connection is refused or cut by the network and the agents,
not by anything shared in one process.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mesh.proxy.outbound import CONNECT_TIMEOUT
from tests.netns.conftest import BATCH_UPSTREAM, WEB_UPSTREAM, MultiHostMesh
from tests.support.processes import http_get, wait_until

pytestmark = pytest.mark.netns


# Longer than the agent's dial timeout: a dial to a dead host, then the fallback, fits in one request.
CLIENT_TIMEOUT = CONNECT_TIMEOUT + 3.0


def call(mesh: MultiHostMesh, port: int, timeout: float = 5.0) -> str | None:
    """One request from vm1's app through its upstream listener: the instance that served it, or None if refused."""
    try:
        code, body = http_get(f"http://{mesh.host('vm1').address}:{port}/", timeout=timeout)
    except OSError:
        return None
    if code != 200:
        return None
    instance: str = json.loads(body)["instance"]
    return instance


def endpoint_hosts(mesh: MultiHostMesh) -> set[str]:
    """The hosts vm1's agent currently dials for api."""
    return {e["address"] for e in mesh.agents["vm1"].status()["endpoints"].get("api@dc1", [])}


def refused_sources(mesh: MultiHostMesh, host: str) -> list[str]:
    events = mesh.agents[host].process.log_events()
    return [str(e.get("source")) for e in events if e.get("event") == "inbound refused"]


def test_an_allowed_pair_reaches_instances_on_both_other_hosts(multi_host: MultiHostMesh) -> None:
    multi_host.allow("web", "api")
    wait_until(lambda: len(endpoint_hosts(multi_host)) == 2, 10, what="vm1 to know both api hosts")
    served: list[str | None] = []
    wait_until(
        lambda: served.append(call(multi_host, WEB_UPSTREAM)) or {"api-vm2", "api-vm3"} <= set(served),
        10,
        what="connections served on both hosts",
    )
    assert None not in served[1:], served  # the first may race the allow intention


def test_a_denied_pair_is_refused_by_every_destination_host(multi_host: MultiHostMesh) -> None:
    multi_host.allow("web", "api")
    multi_host.deny("batch", "api")
    wait_until(lambda: call(multi_host, WEB_UPSTREAM), 5, what="web -> api")
    outcomes: list[str | None] = []

    def refused_on_both_hosts() -> bool:
        outcomes.append(call(multi_host, BATCH_UPSTREAM))
        # Refused by the destination hosts' agents, which read batch's identity off its certificate.
        return all("batch" in refused_sources(multi_host, host) for host in ("vm2", "vm3"))

    wait_until(refused_on_both_hosts, 10, what="batch refused by vm2 and vm3")
    assert set(outcomes) == {None}


def split_to(mesh: MultiHostMesh, subset: str, instance: str) -> None:
    splitter = {"Splits": [{"Weight": 100, "ServiceSubset": subset}]}
    assert mesh.consul().kv.put("mesh/config/service-splitter/api", json.dumps(splitter))
    # One answer from `instance` proves nothing while the documents are still on their way: the
    # round robin over both hosts gives it every other time. Six in a row do, and then it holds.
    wait_until(
        lambda: {call(mesh, WEB_UPSTREAM) for _ in range(6)} == {instance},
        10,
        what=f"new connections to go to {subset}",
    )
    assert {call(mesh, WEB_UPSTREAM) for _ in range(6)} == {instance}


def test_a_kv_splitter_moves_new_connections_between_hosts(multi_host: MultiHostMesh) -> None:
    kv = multi_host.consul().kv
    resolver = {
        "DefaultSubset": "v1",
        "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}},
    }
    multi_host.allow("web", "api")
    try:
        assert kv.put("mesh/config/service-resolver/api", json.dumps(resolver))
        split_to(multi_host, "v2", "api-vm3")
        split_to(multi_host, "v1", "api-vm2")
    finally:
        kv.delete("mesh/config/service-splitter/api")
        kv.delete("mesh/config/service-resolver/api")


def open_connections(mesh: MultiHostMesh, host: str, direction: str) -> float:
    text = mesh.agents[host].metrics()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mesh_active_connections" and sample.labels.get("direction") == direction:
                return float(sample.value)
    return 0.0


def test_connections_are_released_on_both_hosts_once_client_and_app_close(multi_host: MultiHostMesh) -> None:
    multi_host.allow("web", "api")
    wait_until(lambda: call(multi_host, WEB_UPSTREAM), 5, what="web -> api")
    for _ in range(4):
        assert call(multi_host, WEB_UPSTREAM)
    sides = (("vm1", "outbound"), ("vm2", "inbound"), ("vm3", "inbound"))
    wait_until(
        lambda: all(open_connections(multi_host, h, d) == 0 for h, d in sides), 3, what="all connections released"
    )


@dataclass(frozen=True)
class Outcome:
    started: float
    instance: str | None


class Load:
    """Clients calling web's upstream back to back, each connection's start and outcome recorded."""

    def __init__(self, mesh: MultiHostMesh, clients: int) -> None:
        self.mesh = mesh
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.outcomes.append(Outcome(started, call(self.mesh, WEB_UPSTREAM, timeout=CLIENT_TIMEOUT)))
            time.sleep(0.02)

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in list(self.outcomes) if o.started >= moment]


def dial_failures_to(mesh: MultiHostMesh, address: str) -> int:
    events = mesh.agents["vm1"].process.log_events()
    dials = ("dial failed", "dial timed out")
    return sum(1 for e in events if e.get("event") in dials and str(e.get("endpoint", "")).startswith(f"{address}:"))


def test_a_host_cut_off_mid_load_stops_being_chosen_after_the_detection_window(multi_host: MultiHostMesh) -> None:
    multi_host.allow("web", "api")
    vm3 = multi_host.host("vm3").address
    wait_until(lambda: vm3 in endpoint_hosts(multi_host), 10, what="vm3 among api endpoints")
    with Load(multi_host, clients=3) as load:
        wait_until(lambda: {o.instance for o in load.outcomes} >= {"api-vm2", "api-vm3"}, 5, what="load on both")
        multi_host.net.cut("vm3")
        try:
            # Detection: vm3's agent can no longer pass its liveness TTL (10 s), Consul marks
            # its instance critical, and vm1's blocking query drops it.
            wait_until(lambda: vm3 not in endpoint_hosts(multi_host), 20, interval=0.2, what="vm1 to drop vm3")
            dropped = time.monotonic()
            passing = {e["Service"]["Address"] for e in multi_host.consul().health.connect("api", passing=True)[1]}
            assert vm3 not in passing
            # Dials to vm3 begun before the drop end within the agent's dial timeout; count after that.
            time.sleep(CONNECT_TIMEOUT + 0.5)
            settled, dials_to_vm3 = time.monotonic(), dial_failures_to(multi_host, vm3)
            wait_until(lambda: len(load.since(settled)) >= 30, 10, what="load after the drop")
        finally:
            multi_host.net.restore("vm3")
    after_drop = load.since(dropped)
    assert after_drop
    assert [o for o in after_drop if o.instance != "api-vm2"] == []
    assert dial_failures_to(multi_host, vm3) == dials_to_vm3, "vm3 was dialled after vm1 dropped it"
