"""The shipped Prometheus rules and Grafana dashboard, checked against the real tools and real agents.

- `promtool check rules` accepts the rules, and `promtool test rules` passes the unit tests that
  fire each alert on its input series and keep it silent on the near misses
  (deploy/prometheus/mesh-rules.test.yml); every alert has both kinds of case.
- Every metric the rules and the dashboard read is one a real agent exports (its /metrics, after
  real traffic), so a renamed metric cannot leave a dashboard silently empty.
- A real Prometheus scraping two agents under traffic evaluates every recording rule to a
  non-empty result, and answers every dashboard query.

The promtool and Prometheus tests need Debian's `prometheus` package (installed by
.ci/system-deps); without it they skip and say so.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Mesh, running_stack
from tests.e2e.observed_mesh import PROMETHEUS, ObservedMesh, Prometheus, start_observed_mesh, steady_traffic
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/mesh-rules.yml"
RULE_TESTS = ROOT / "deploy/prometheus/mesh-rules.test.yml"
DASHBOARD = ROOT / "deploy/grafana/mesh-dashboard.json"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found: install Debian's `prometheus` package (.ci/system-deps does)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not found: install Debian's `prometheus` package (.ci/system-deps does)"
)

# Dashboard queries over series an agent creates only when the event happens (a retry, an
# ejection, a breaker overflow, ...): Prometheus must accept them, but the estate here has no
# such event, so they may answer nothing.
EVENT_ONLY = (
    "mesh_retry_budget_exhausted_total",
    "mesh_retries_total",
    "mesh_outlier_ejected_endpoints",
    "mesh_outlier_ejections_total",
    "mesh_upstream_overflows_total",
    "mesh_request_timeouts_total",
    "mesh_rate_limited_requests_total",
    "mesh_consul_watch_errors_total",
    "mesh_intentions_rejected_total",
)


def rules() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return doc


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"]]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def dashboard_panels() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out += panel.get("panels") or []
    return out


def dashboard_queries() -> list[str]:
    exprs = [t["expr"] for p in dashboard_panels() for t in p.get("targets") or ()]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(re.sub(r"^label_values\((.+), *\w+\)$", r"\1", var["definition"]))
    return exprs


def series_names(expr: str) -> set[str]:
    """The metric and recorded names a PromQL expression reads: names of the mesh's series
    (`mesh_...`) and of recording rules (`level:metric:operation`). Label values (strings) and
    the dashboard's template variables are not names."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    without_variables = re.sub(r"\$\w+", "", without_strings)
    tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_variables))
    return {t for t in tokens if t.startswith("mesh_") or ":" in t}


def exported_names(exposition: str) -> set[str]:
    """Every sample name the exposition can carry, including families with no series yet
    (a labelled counter no event has touched is listed by its HELP and TYPE lines alone)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def concrete(expr: str) -> str:
    """A dashboard query as Grafana sends it with every service selected."""
    return expr.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$service", ".*")


# --- the files themselves -------------------------------------------------------------------------


def test_every_alert_has_a_summary_a_description_a_severity_and_a_for() -> None:
    alerts = [rule for rule in all_rules() if "alert" in rule]
    assert len(alerts) >= 10
    for alert in alerts:
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    for case in (c for t in tests for c in t.get("alert_rule_test") or ()):
        (fired if case["exp_alerts"] else silent).add(case["alertname"])
    names = {rule["alert"] for rule in all_rules() if "alert" in rule}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_the_dashboard_is_importable_with_a_prometheus_input_and_a_service_variable() -> None:
    doc = dashboard()
    assert doc["schemaVersion"] >= 39
    assert doc["uid"] == "vm-mesh-services"
    assert [i["name"] for i in doc["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["service"]["type"] == "query"
    assert variables["service"]["multi"]
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard_panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_the_dashboard_reads_only_recording_rules_that_the_rules_file_defines() -> None:
    recorded = recorded_names()
    used = {name for expr in dashboard_queries() for name in series_names(expr) if ":" in name}
    assert used, "the golden-signal panels read the recording rules"
    assert used - recorded == set()


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    proc = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in proc.stdout


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert PROMTOOL is not None
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULE_TESTS.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


# --- against real agents ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedMesh]:
    with running_stack("observability-devstack") as stack:
        mesh = Mesh(tmp_path_factory.mktemp("observability"), stack)
        try:
            yield start_observed_mesh(mesh)
        finally:
            mesh.close()


def test_every_metric_the_rules_and_the_dashboard_read_is_exported_by_a_real_agent(observed: ObservedMesh) -> None:
    exported: set[str] = set()
    for agent in observed.agents:
        exported |= exported_names(agent.metrics())
    exprs = [rule["expr"] for rule in all_rules()] + dashboard_queries()
    used = {name for expr in exprs for name in series_names(expr) if ":" not in name}
    assert {"mesh_requests_total", "mesh_request_duration_seconds_bucket", "mesh_fail_static"} <= used
    assert used - exported == set(), "read by the rules or the dashboard, exported by no agent"


@pytest.fixture(scope="module")
def prometheus(observed: ObservedMesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    targets = [agent.admin.removeprefix("http://") for agent in observed.agents]
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), targets, RULES)
    with steady_traffic(observed):
        server.start()
        try:
            yield server
        finally:
            server.process.stop()


def finite(result: list[dict[str, Any]]) -> list[float]:
    return [float(v) for v in (s["value"][1] for s in result) if not math.isnan(float(v))]


@needs_prometheus
def test_prometheus_evaluates_every_recording_rule_over_real_agents(prometheus: Prometheus) -> None:
    for name in sorted(recorded_names()):
        result = wait_until(
            lambda name=name: finite(prometheus.query(name)), 90, interval=0.5, what=f"{name} evaluated"
        )
        assert all(value >= 0 for value in result), (name, result)
    health = prometheus.rule_health()
    assert {name: h for name, h in health.items() if h != "ok"} == {}
    requests = {
        s["metric"]["destination"]: float(s["value"][1]) for s in prometheus.query("destination:mesh_requests:rate5m")
    }
    assert requests["api"] > 0
    assert requests["billing"] > 0
    edges = {
        (s["metric"]["source"], s["metric"]["destination"])
        for s in prometheus.query("source_destination:mesh_requests:rate5m > 0")
    }
    assert {("web", "api"), ("web", "billing")} <= edges
    # Refused by an intention is a 403: the caller's business, not an error of billing's.
    ratio = prometheus.query('destination:mesh_request_error_ratio:rate5m{destination="billing"}')
    assert [float(s["value"][1]) for s in ratio] == [0.0]


@needs_prometheus
def test_prometheus_answers_every_dashboard_query_over_real_agents(prometheus: Prometheus) -> None:
    wait_until(lambda: prometheus.query("destination:mesh_requests:rate5m > 0"), 90, what="recorded request rates")
    silent = []
    for expr in dashboard_queries():
        result = prometheus.query(concrete(expr))
        if not result and not any(name in expr for name in EVENT_ONLY):
            silent.append(expr)
    assert silent == [], "dashboard queries with no answer although their series exist"
