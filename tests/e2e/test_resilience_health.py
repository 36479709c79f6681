"""Health-aware splitting and failover end to end: api v1 and v2 in dc1 and a v1 in dc2, each with
a Consul HTTP check (1s) on its echo app; `/_control/health?status=fail` turns an instance
critical, and the instance also fails its requests meanwhile, as a dying one would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PLANES, chosen_plane
from tests.e2e.resilience_support import Fleet, Instance, fleet
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

SUBSETS = {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}


@pytest.fixture(scope="module", params=PLANES)
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    plane = chosen_plane(request)
    tmp = Path(tmp_path_factory.mktemp("resilience-health"))
    instances = [("api-v1", "v1", "dc1"), ("api-v2", "v2", "dc1"), ("api-dc2", "v1", "dc2")]
    with fleet(tmp, "resilience-health", instances, checks=True, datacenters=("dc1", "dc2"), plane=plane) as found:
        yield found


def go_critical(api: Fleet, instance: Instance, datacenter: str = "dc1") -> None:
    instance.faults(fail_percent=100, status=503)
    instance.health(passing=False)
    wait_until(
        lambda: all(e["address"] != instance.host for e in api.endpoints(datacenter)),
        10,
        what=f"{instance.name} critical",
    )


def recover(api: Fleet, instance: Instance, datacenter: str = "dc1") -> None:
    instance.faults()
    instance.health(passing=True)
    wait_until(
        lambda: any(e["address"] == instance.host for e in api.endpoints(datacenter)),
        10,
        what=f"{instance.name} passing",
    )


def test_a_split_whose_subset_goes_critical_sends_everything_to_the_other_until_it_recovers(api: Fleet) -> None:
    api.put("service-resolver", {"Subsets": SUBSETS})
    api.put(
        "service-splitter", {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]}
    )
    try:
        go_critical(api, api.api["api-v2"])
        during = api.served_by(400)
        print(f"\n[split] 50/50, v2 critical: {dict(during)}")
        assert during == {"api-v1": 400}

        recover(api, api.api["api-v2"])
        after = api.served_by(400)
        print(f"[split] v2 recovered: {dict(after)}")
        assert set(after) == {"api-v1", "api-v2"}
        assert 160 <= after["api-v2"] <= 240
    finally:
        api.delete("service-splitter")


def test_a_subset_with_every_local_instance_critical_fails_over_to_dc2(api: Fleet) -> None:
    api.put(
        "service-resolver", {"DefaultSubset": "v1", "Subsets": SUBSETS, "Failover": {"*": {"Datacenters": ["dc2"]}}}
    )
    wait_until(lambda: api.endpoints("dc2"), 10, what="web watching api in dc2")
    assert api.served_by(20) == {"api-v1": 20}
    go_critical(api, api.api["api-v1"])
    during = api.served_by(200)
    print(f"\n[failover] v1 critical in dc1: {dict(during)}")
    assert during == {"api-dc2": 200}

    recover(api, api.api["api-v1"])
    assert api.served_by(20) == {"api-v1": 20}
