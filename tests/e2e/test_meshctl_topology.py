"""`meshctl topology` on real agents: web calls api (allowed) and billing (refused by an intention).

meshctl runs as operators run it (a subprocess) against the Consul stand-in the agents
registered in, with traffic read from the agents' /metrics and from a real Prometheus that
scrapes them (Debian's `prometheus` package; that test skips without it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Mesh, Stack, running_stack
from tests.e2e.observed_mesh import PROMETHEUS, ObservedMesh, Prometheus, start_observed_mesh, steady_traffic
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, ObservedMesh]]:
    with running_stack("topology-devstack") as stack:
        mesh = Mesh(tmp_path_factory.mktemp("topology"), stack)
        try:
            yield stack, start_observed_mesh(mesh)
        finally:
            mesh.close()


def topology(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mesh.cli.meshctl", "--consul-addr", stack.info["consul"], "topology", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    return proc


def edges(document: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["source"], e["destination"]): e for e in json.loads(document)["edges"]}


def metrics_args(observed: ObservedMesh) -> list[str]:
    return [arg for agent in observed.agents for arg in ("--metrics", agent.admin)]


def test_the_text_shows_the_allowed_edge_with_traffic_and_the_refused_one_marked(
    estate: tuple[Stack, ObservedMesh],
) -> None:
    stack, observed = estate
    out = topology(stack, *metrics_args(observed)).stdout
    rows = {tuple(line.split()[:3]): line for line in out.splitlines() if "=>" in line}
    assert set(rows) == {("web", "=>", "api"), ("web", "=>", "billing")}
    assert " allowed " in rows[("web", "=>", "api")]
    assert " req " in rows[("web", "=>", "api")]
    assert "DENIED" in rows[("web", "=>", "billing")]
    assert "intention web => billing (deny)" in rows[("web", "=>", "billing")]
    assert "/metrics of 2 agent(s), totals since each agent started" in out


def test_the_document_counts_the_requests_each_edge_carried(estate: tuple[Stack, ObservedMesh]) -> None:
    stack, observed = estate
    before = edges(topology(stack, "-o", "json", *metrics_args(observed)).stdout)
    assert observed.call(observed.api_port) == 200
    assert observed.call(observed.billing_port) == 403
    after = edges(topology(stack, "-o", "json", *metrics_args(observed)).stdout)
    assert after[("web", "api")]["traffic"]["requests"] == before[("web", "api")]["traffic"]["requests"] + 1
    assert after[("web", "api")]["verdict"] == "allow"
    assert after[("web", "api")]["declared"] is True
    billing = after[("web", "billing")]
    assert billing["verdict"] == "deny"
    assert billing["traffic"]["requests"] == before[("web", "billing")]["traffic"]["requests"] + 1
    assert billing["traffic"]["errors"] == 0  # a 403 from an intention is the caller's fault, not an error


def test_a_window_between_two_scrapes_gives_requests_a_second(estate: tuple[Stack, ObservedMesh]) -> None:
    stack, observed = estate
    with steady_traffic(observed):
        found = edges(topology(stack, "-o", "json", "--window", "2s", *metrics_args(observed)).stdout)
    assert found[("web", "api")]["traffic"]["rps"] > 0
    assert found[("web", "api")]["traffic"]["p99"] > 0


def test_dot_is_valid_and_marks_the_refused_edge(estate: tuple[Stack, ObservedMesh]) -> None:
    stack, observed = estate
    dot = topology(stack, "--format", "dot", *metrics_args(observed)).stdout
    assert dot.startswith("digraph mesh {")
    assert '"web" -> "api" [label="' in dot
    refused = next(line for line in dot.splitlines() if '"web" -> "billing"' in line)
    assert "DENIED" in refused
    assert "color=red" in refused
    if shutil.which("dot") is not None:  # Graphviz itself, where installed, is the judge of validity
        proc = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "<svg" in proc.stdout


@pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not found: install Debian's `prometheus` package (.ci/system-deps does)"
)
def test_traffic_from_a_real_prometheus(
    estate: tuple[Stack, ObservedMesh], tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack, observed = estate
    home = tmp_path_factory.mktemp("topology-prometheus")
    rules = home / "no-rules.yml"
    rules.write_text("groups: []\n")
    server = Prometheus(home, [agent.admin.removeprefix("http://") for agent in observed.agents], rules)
    with steady_traffic(observed):
        server.start()
        try:

            def measured() -> dict[tuple[str, str], dict[str, Any]] | None:
                found = edges(topology(stack, "-o", "json", "--prometheus", server.url, "--window", "1m").stdout)
                traffic = found[("web", "api")]["traffic"]
                return found if traffic is not None and traffic["rps"] > 0 and traffic["p99"] else None

            found = wait_until(measured, 90, interval=1, what="web => api measured by Prometheus")
        finally:
            server.process.stop()
    assert found[("web", "api")]["traffic"]["error_ratio"] == 0
    assert found[("web", "billing")]["verdict"] == "deny"
    assert found[("web", "billing")]["traffic"]["rps"] > 0
