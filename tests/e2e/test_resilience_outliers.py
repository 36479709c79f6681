"""Outlier detection end to end: one of three api instances answers 500 to everything; web's agent
ejects it, shows it in /v1/status and its metrics, and takes it back after the ejection time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.resilience_support import Fleet, fleet
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

EJECTION_SECONDS = 6
PASSIVE_HEALTH_CHECK = {
    "Interval": "10s",
    "MaxFailures": 3,
    "EnforcingConsecutive5xx": 100,
    "MaxEjectionPercent": 50,
    "BaseEjectionTime": f"{EJECTION_SECONDS}s",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = Path(tmp_path_factory.mktemp("resilience-outliers"))
    instances = [("api-a", "v1", "dc1"), ("api-b", "v1", "dc1"), ("api-c", "v1", "dc1")]
    with fleet(tmp, "resilience-outliers", instances) as found:
        defaults = {"Protocol": "http", "UpstreamConfig": {"Defaults": {"PassiveHealthCheck": PASSIVE_HEALTH_CHECK}}}
        found.put("service-defaults", defaults, service="web")
        yield found


def ejected(api: Fleet) -> list[dict[str, object]]:
    return [e for e in api.endpoints() if e.get("ejected")]


def test_an_instance_answering_500_is_ejected_then_taken_back_after_the_ejection_time(api: Fleet) -> None:
    bad = api.api["api-c"]
    bad.faults(fail_percent=100, status=500)
    # Round robin sends it every third request: three 500s in a row eject it.
    wait_until(lambda: api.served_by(6) and ejected(api), 10, what="api-c ejected")
    (out,) = ejected(api)
    assert out["address"] == bad.host
    assert isinstance(out["ejected_until"], float)
    assert out["ejected_until"] > time.time()
    assert api.metric("mesh_outlier_ejected_endpoints", upstream="api") == 1
    assert api.metric("mesh_outlier_ejections_total", upstream="api") == 1

    replies = api.replies(1000)
    ok = sum(r.status == 200 for r in replies)
    print(f"\n[outliers] after ejection: {ok}/1000 succeeded; served by {sorted({r.instance for r in replies})}")
    assert ok >= 995

    bad.faults()  # healthy again: it must come back once its time is up
    returned_at = float(out["ejected_until"])  # type: ignore[arg-type]
    wait_until(lambda: "api-c" in api.served_by(9), EJECTION_SECONDS + 5, interval=0.2, what="api-c back")
    print(f"[outliers] api-c served again {time.time() - returned_at:+.2f}s after its ejected_until")
    assert time.time() >= returned_at
    assert not ejected(api)
