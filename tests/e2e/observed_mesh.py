"""An estate worth observing, for the observability and topology tests: real agents under traffic.

Host A runs `web`, which calls `api` (allowed by an intention) and `billing` (denied by one);
host B runs `api` and `billing`, both HTTP. A thread keeps calling both upstreams so rates stay
above zero while Prometheus or meshctl look; one KV document is invalid, so the agents count
a rejection. `Prometheus` runs the real one (Debian's package) over such an estate.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import Mesh
from tests.support.ports import free_port
from tests.support.processes import Agent, Process, http_get, wait_until

PROMETHEUS = shutil.which("prometheus")
INVALID_SPLITTER_KEY = "mesh/config/service-splitter/api"
INVALID_SPLITTER = '{"Splits": [{"Weight": 90, "Service": "api"}, {"Weight": 20, "Service": "billing"}]}'


@dataclass
class ObservedMesh:
    web: Agent
    backends: Agent
    api_port: int
    billing_port: int

    @property
    def agents(self) -> tuple[Agent, Agent]:
        return (self.web, self.backends)

    def call(self, port: int) -> int:
        """One request from web through its upstream listener; the status, 0 when refused."""
        try:
            return http_get(f"http://{self.web.host}:{port}/", timeout=5)[0]
        except OSError:
            return 0


def start_observed_mesh(mesh: Mesh) -> ObservedMesh:
    a_host, b_host = mesh.host(), mesh.host()
    api, billing = mesh.app("api", b_host), mesh.app("billing", b_host)
    backends = mesh.agent(
        "host-b",
        b_host,
        [
            {"name": "api", "port": api, "address": b_host, "protocol": "http"},
            {"name": "billing", "port": billing, "address": b_host, "protocol": "http"},
        ],
    )
    api_port, billing_port = free_port(a_host), free_port(a_host)
    upstreams = [
        {"destination_name": "api", "local_bind_port": api_port, "local_bind_address": a_host},
        {"destination_name": "billing", "local_bind_port": billing_port, "local_bind_address": a_host},
    ]
    web = mesh.agent(
        "host-a",
        a_host,
        [{"name": "web", "port": free_port(a_host), "address": a_host, "protocol": "http", "upstreams": upstreams}],
    )
    mesh.stack.allow("web", "api")
    mesh.stack.deny("web", "billing")
    observed = ObservedMesh(web, backends, api_port, billing_port)
    wait_until(lambda: observed.call(api_port) == 200, 20, what="web => api answered through both agents")
    wait_until(lambda: observed.call(billing_port) == 403, 20, what="web => billing refused by its intention")
    assert mesh.stack.consul().kv.put(INVALID_SPLITTER_KEY, INVALID_SPLITTER)
    for agent in observed.agents:
        wait_until(
            lambda agent=agent: "mesh_config_documents_rejected_total{" in agent.metrics(),
            20,
            what=f"agent {agent.node} counted the invalid splitter",
        )
    return observed


@contextlib.contextmanager
def steady_traffic(observed: ObservedMesh, interval: float = 0.1) -> Iterator[None]:
    """Calls to both upstreams until the block ends (a daemon thread, joined on the way out)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            observed.call(observed.api_port)
            observed.call(observed.billing_port)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="steady-traffic", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


class Prometheus:
    """A real Prometheus on a free loopback port, scraping `targets` every second and
    evaluating `rules` (a rules file) every second; its storage in `home`."""

    def __init__(self, home: Path, targets: list[str], rules: Path) -> None:
        assert PROMETHEUS is not None
        home.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "mesh", "static_configs": [{"targets": targets}]}],
        }
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        argv = [
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
        ]
        self.process = Process("prometheus", argv, home / "prometheus.log")

    def start(self) -> None:
        self.process.start()
        try:
            wait_until(lambda: http_get(f"{self.url}/-/ready", timeout=2)[0] == 200, 60, what="Prometheus ready")
        except AssertionError:
            raise AssertionError(f"Prometheus did not start; log:\n{self.process.logs()[-3000:]}") from None

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` answers now; AssertionError when Prometheus refuses it."""
        code, body = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=10)
        answer = json.loads(body)
        assert code == 200, f"{expr}: {answer}"
        assert answer["status"] == "success", f"{expr}: {answer}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def rule_health(self) -> dict[str, str]:
        _code, body = http_get(f"{self.url}/api/v1/rules", timeout=10)
        groups = json.loads(body)["data"]["groups"]
        return {r["name"]: f"{r['health']} {r.get('lastError', '')}".strip() for g in groups for r in g["rules"]}
