"""Devstack-only behaviour: restarts that lose state, outages, federation, CA roots, the reaper."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests
from consul import Check

from mesh.devstack.consul import Federation
from tests.support.pki import make_ca

from ..conftest import ConsulUnderTest
from .polling import eventually


def test_a_restart_that_loses_state_starts_the_indexes_over(
    devstack_consul: Callable[..., ConsulUnderTest],
) -> None:
    consul = devstack_consul()
    c = consul.client()
    for i in range(20):
        c.kv.put(f"churn/{i}", str(i))
    c.agent.service.register("web", service_id="web-1", port=80)
    before, _ = c.health.service("web")
    consul.restart(lose_state=True)
    after, entries = c.health.service("web")
    assert entries == []
    assert c.kv.get("churn/0")[1] is None
    assert "web-1" not in c.agent.services()
    assert int(after) < int(before), "a client must be able to see the index go backwards"


def test_a_restart_that_keeps_state_keeps_registrations(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    consul = devstack_consul()
    c = consul.client()
    c.agent.service.register("web", service_id="web-1", port=80)
    index, _ = c.health.service("web")
    consul.restart(lose_state=False)
    again, entries = c.health.service("web")
    assert [e["Service"]["ID"] for e in entries] == ["web-1"]
    assert again == index


def test_stopping_drops_a_blocked_query(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    consul = devstack_consul()
    consul.client().kv.put("k", "v")
    index, _ = consul.client().kv.get("k")
    outcome: list[object] = []

    def watch() -> None:
        try:
            outcome.append(requests.get(f"{consul.url}/v1/kv/k", params={"index": index, "wait": "30s"}, timeout=10))
        except requests.RequestException as exc:
            outcome.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert consul.stand_ins is not None
    assert consul.devstack is not None
    server = consul.devstack
    eventually(lambda: server.in_flight_requests, lambda n: n > 0)
    consul.stand_ins.run(server.stop())
    watcher.join(5)
    assert len(outcome) == 1
    assert isinstance(outcome[0], requests.ConnectionError)


def test_federated_datacenters_answer_for_each_other(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    federation = Federation()
    dc1 = devstack_consul(datacenter="dc1", federation=federation)
    dc2 = devstack_consul(datacenter="dc2", federation=federation, node_name="dc2-node")
    dc2.client().agent.service.register("db", service_id="db-1", port=5432)
    assert dc1.client().catalog.datacenters() == ["dc1", "dc2"]
    _, entries = dc1.client().health.service("db", dc="dc2")
    assert [(e["Service"]["ID"], e["Node"]["Datacenter"]) for e in entries] == [("db-1", "dc2")]
    assert dc1.client().health.service("db")[1] == []
    index, _ = dc1.client().health.service("db", dc="dc2")
    more = threading.Timer(0.2, lambda: dc2.client().agent.service.register("db", service_id="db-2", port=5433))
    more.start()
    _, entries = dc1.client().health.service("db", dc="dc2", index=index, wait="10s")
    more.join()
    assert [e["Service"]["ID"] for e in entries] == ["db-1", "db-2"], "a watch across datacenters wakes"
    resp = requests.get(f"{dc1.url}/v1/health/service/db", params={"dc": "dc9"}, timeout=5)
    assert resp.status_code == 500
    assert resp.text == "No path to datacenter"


def test_ca_roots_are_described_as_consul_describes_them(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    consul = devstack_consul()
    assert consul.devstack is not None
    old, new = make_ca("Old Root"), make_ca("New Root")
    consul.devstack.set_ca_roots([old.cert_pem, new.cert_pem])
    roots = consul.client().connect.ca.roots()
    assert roots["TrustDomain"] == consul.devstack.trust_domain
    assert [r["Active"] for r in roots["Roots"]] == [False, True]
    active = roots["Roots"][1]
    assert roots["ActiveRootID"] == active["ID"]
    assert active["RootCert"].strip() == new.cert_pem.strip()
    assert active["ID"].count(":") == 19, "colon-hex SHA-1 of the certificate"
    assert active["SigningKeyID"].count(":") >= 19
    assert active["SerialNumber"] == new.cert.serial_number % (1 << 64)


def test_changing_ca_roots_wakes_a_roots_watch(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    consul = devstack_consul()
    server = consul.devstack
    assert server is not None
    first, second = make_ca("First"), make_ca("Second")
    server.set_ca_roots([first.cert_pem])
    before = requests.get(f"{consul.url}/v1/connect/ca/roots", timeout=5)
    index = before.headers["X-Consul-Index"]
    rotate = threading.Timer(0.2, lambda: server.set_ca_roots([first.cert_pem, second.cert_pem]))
    rotate.start()
    after = requests.get(f"{consul.url}/v1/connect/ca/roots", params={"index": index, "wait": "10s"}, timeout=15)
    rotate.join()
    assert int(after.headers["X-Consul-Index"]) > int(index)
    assert len(after.json()["Roots"]) == 2


def test_the_reaper_removes_a_service_critical_for_too_long(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    consul = devstack_consul(check_reap_interval=0.1, check_deregister_interval_min=0.3)
    c = consul.client()
    check = Check.ttl("30s")
    check["DeregisterCriticalServiceAfter"] = "300ms"
    c.agent.service.register("doomed", service_id="doomed-1", check=check)
    c.agent.service.register("kept", service_id="kept-1", check=Check.ttl("30s"))
    eventually(lambda: "doomed-1" in c.agent.services(), lambda present: not present, timeout=3)
    assert "kept-1" in c.agent.services()


@pytest.mark.parametrize("bad", ["not-a-cert", ""])
def test_ca_roots_must_be_certificates(devstack_consul: Callable[..., ConsulUnderTest], bad: str) -> None:
    consul = devstack_consul()
    assert consul.devstack is not None
    with pytest.raises(ValueError, match="certificate"):
        consul.devstack.set_ca_roots([bad])
