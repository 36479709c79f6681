"""Devstack-only: config entries (service-intentions included) in a WAN federation.

As in Consul, the first datacenter is the primary: every config-entry and intention write is
forwarded there, whichever datacenter received it, and the secondaries replicate the primary's
set into their own state, with their own Raft indexes. (The container suite runs one Consul, so
this is specified against the stand-in only.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests

from mesh.devstack.consul import Federation

from ..conftest import ConsulUnderTest

Federated = tuple[ConsulUnderTest, ConsulUnderTest]


@pytest.fixture
def federated(devstack_consul: Callable[..., ConsulUnderTest]) -> Federated:
    federation = Federation()
    primary = devstack_consul(datacenter="dc1", federation=federation)
    secondary = devstack_consul(datacenter="dc2", federation=federation, node_name="dc2-node")
    return primary, secondary


def entry_and_index(consul: ConsulUnderTest, kind: str, name: str, **params: str) -> tuple[int, dict[str, object]]:
    resp = requests.get(f"{consul.url}/v1/config/{kind}/{name}", params=params, timeout=15)
    assert resp.status_code == 200, resp.text
    return int(resp.headers["X-Consul-Index"]), resp.json()


def test_a_write_in_a_secondary_lands_in_the_primary_and_comes_back_by_replication(federated: Federated) -> None:
    primary, secondary = federated
    for i in range(5):  # the secondary's Raft log runs ahead of the primary's
        secondary.client().kv.put(f"churn/{i}", "x")
    assert secondary.client().config.set("service-defaults", "api", {"Protocol": "http"}) is True

    primary_index, in_primary = entry_and_index(primary, "service-defaults", "api")
    secondary_index, in_secondary = entry_and_index(secondary, "service-defaults", "api")
    assert in_primary["Protocol"] == in_secondary["Protocol"] == "http"
    assert in_primary["ModifyIndex"] == primary_index
    assert in_secondary["ModifyIndex"] == secondary_index, "the secondary's own index"
    assert secondary_index > primary_index


def test_a_write_naming_a_secondary_datacenter_is_still_the_primarys(federated: Federated) -> None:
    primary, secondary = federated
    assert primary.client().config.set("service-defaults", "api", {"Protocol": "grpc"}, dc="dc2") is True
    assert primary.client().config.get("service-defaults", "api")["Protocol"] == "grpc"
    assert secondary.client().config.get("service-defaults", "api")["Protocol"] == "grpc"


def test_an_intention_written_in_a_secondary_decides_in_every_datacenter(federated: Federated) -> None:
    primary, secondary = federated
    assert secondary.client().connect.intentions.upsert("web", "api", action="allow") is True
    assert primary.client().config.get("service-intentions", "api")["Sources"][0]["Name"] == "web"
    assert primary.client().connect.intentions.check("web", "api") is True
    assert secondary.client().connect.intentions.check("web", "api") is True
    assert [i["SourceName"] for i in secondary.client().connect.intentions.match("destination", "api")["api"]] == [
        "web"
    ]

    assert secondary.client().connect.intentions.delete("web", "api") is True
    assert primary.client().connect.intentions.list() == []
    assert secondary.client().connect.intentions.list() == []


def test_a_delete_in_the_primary_is_replicated(federated: Federated) -> None:
    primary, secondary = federated
    assert primary.client().config.set("service-resolver", "api", {"DefaultSubset": ""}) is True
    assert [e["Name"] for e in secondary.client().config.list("service-resolver")] == ["api"]
    assert primary.client().config.delete("service-resolver", "api") is True
    assert secondary.client().config.list("service-resolver") == []


def test_a_watch_in_a_secondary_wakes_when_the_primary_changes_an_entry(federated: Federated) -> None:
    primary, secondary = federated
    assert primary.client().config.set("service-defaults", "api", {"Protocol": "tcp"}) is True
    index, _ = entry_and_index(secondary, "service-defaults", "api")
    later = threading.Timer(0.2, lambda: primary.client().config.set("service-defaults", "api", {"Protocol": "http"}))
    later.start()
    woke_at, entry = entry_and_index(secondary, "service-defaults", "api", index=str(index), wait="10s")
    later.join()
    assert entry["Protocol"] == "http"
    assert woke_at > index


def test_a_secondary_that_loses_its_state_replicates_the_entries_again(federated: Federated) -> None:
    primary, secondary = federated
    assert primary.client().connect.intentions.upsert("web", "api", action="allow") is True
    secondary.restart(lose_state=True)
    assert secondary.client().connect.intentions.check("web", "api") is True
