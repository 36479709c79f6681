"""Traffic mirroring and fault injection end to end: api v1 serves, api v2 is the shadow that
receives copies; faults are injected by web's agent before requests leave its host."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PLANES, chosen_plane
from tests.e2e.resilience_support import Fleet, fleet
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

SUBSETS = {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}
# Envoy arms its timers from its event loop's cached clock, in whole milliseconds: a delay can end
# a fraction of a millisecond before it is due as the client measures it.
ENVOY_TIMER_EARLINESS = 0.005
MIRROR = {
    "Routes": [
        {"Destination": {"ServiceSubset": "v1", "Mirror": {"Service": "api", "ServiceSubset": "v2", "Percent": 100}}}
    ]
}


@pytest.fixture(scope="module", params=PLANES)
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    plane = chosen_plane(request)
    tmp = Path(tmp_path_factory.mktemp("resilience-mirroring"))
    with fleet(
        tmp, "resilience-mirroring", [("api-v1", "v1", "dc1"), ("api-shadow", "v2", "dc1")], plane=plane
    ) as found:
        found.put("service-resolver", {"DefaultSubset": "v1", "Subsets": SUBSETS})
        yield found


def route(api: Fleet, destination: dict[str, Any]) -> None:
    api.put("service-router", {"Routes": [{"Destination": {"ServiceSubset": "v1", **destination}}]})


def latency_ms(replies: list[Any]) -> str:
    seconds = [r.seconds for r in replies]
    return (
        f"min {min(seconds) * 1000:.1f} ms, median {statistics.median(seconds) * 1000:.1f} ms,"
        f" max {max(seconds) * 1000:.1f} ms; statuses {dict(Counter(r.status for r in replies))}"
    )


def test_fault_injection_aborts_about_half_the_requests_with_50_percent(api: Fleet) -> None:
    route(api, {"Fault": {"Abort": {"Percent": 50, "HTTPStatus": 503}}})
    served_before = api.api["api-v1"].requests()
    replies = api.replies(1000)
    statuses = Counter(r.status for r in replies)
    print(f"\n[faults] abort 50% (503) over 1000 requests: {dict(statuses)}")
    assert 450 <= statuses[503] <= 550
    assert statuses[200] == 1000 - statuses[503]
    assert {r.headers["x-mesh-reason"] for r in replies if r.status == 503} == {"fault-abort"}
    assert api.api["api-v1"].requests() - served_before == statuses[200]  # aborted ones never left web's host


def test_fault_injection_delays_requests_by_the_duration(api: Fleet) -> None:
    route(api, {"Fault": {"Delay": {"Percent": 100, "Duration": "200ms"}}})
    replies = api.replies(5)
    print(f"\n[faults] delay 100% by 200ms: {latency_ms(replies)}")
    early = ENVOY_TIMER_EARLINESS if api.mesh.plane == "envoy" else 0.0
    assert all(r.status == 200 and r.seconds >= 0.2 - early for r in replies)


def test_the_shadow_receives_a_copy_of_every_request_and_its_answers_go_nowhere(api: Fleet) -> None:
    api.put("service-router", MIRROR)
    shadow = api.api["api-shadow"]
    before = shadow.requests()
    assert api.served_by(50) == {"api-v1": 50}
    wait_until(lambda: shadow.requests() - before == 50, 5, what="50 copies at the shadow")


def test_a_slow_shadow_does_not_slow_the_primary(api: Fleet) -> None:
    api.put("service-router", MIRROR)
    baseline = api.replies(50)
    api.api["api-shadow"].faults(delay="2s")
    try:
        replies = api.replies(50)
    finally:
        api.api["api-shadow"].faults()
    print(f"\n[mirror] no mirror delay: {latency_ms(baseline)}; shadow answering in 2s: {latency_ms(replies)}")
    assert Counter(r.instance for r in replies) == {"api-v1": 50}
    assert max(r.seconds for r in replies) < 1.0  # a primary waiting for its copy would take 2 s
    if api.mesh.plane == "builtin":
        # Envoy neither bounds the copies in flight nor counts the ones it drops (docs/data-planes.md).
        assert api.metric("mesh_mirrored_requests_total", result="dropped") >= 50 - 32  # at most 32 copies in flight


def test_a_dead_shadow_does_not_affect_the_primary(api: Fleet) -> None:
    api.put("service-router", MIRROR)
    shadow = api.api["api-shadow"]
    app = next(p for p in api.mesh.processes if p.name == f"app-api-{shadow.port}")
    app.stop()
    replies = api.replies(50)
    print(f"\n[mirror] shadow app stopped: {latency_ms(replies)}")
    assert Counter(r.instance for r in replies) == {"api-v1": 50}
    assert max(r.seconds for r in replies) < 1.0
