"""A fleet for the resilience scenarios: `web` calls `api` through its agent; each api instance is
an echo app (with fault knobs) behind its own agent, on its own host, in dc1 or dc2.

Documents are written to Consul KV as an operator would, and each write waits until web's
agent has it in force (its /v1/status `config_versions`), so a scenario never races its setup.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Mesh, Stack, running_stack
from tests.support.processes import Agent, wait_until

PREFIX = "mesh/config"
CHECK = {"http": "/health", "interval": "1s", "timeout": "1s"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def instance(self) -> str:
        """Which api instance answered (echo app JSON), "" for an answer of the mesh's own."""
        try:
            return str(json.loads(self.body).get("instance", ""))
        except ValueError:
            return ""


@dataclass
class Instance:
    """One api instance: its echo app's control endpoints, and its agent."""

    name: str
    host: str
    port: int
    agent: Agent
    datacenter: str

    def control(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def faults(self, fail_percent: float = 0, status: int = 503, delay: str = "0s") -> None:
        self.control(f"/_control/faults?fail_percent={fail_percent}&status={status}&delay={delay}")

    def health(self, passing: bool) -> None:
        self.control(f"/_control/health?status={'pass' if passing else 'fail'}")

    def requests(self) -> int:
        return int(self.control("/_control/stats")["requests"])


@dataclass
class Fleet:
    mesh: Mesh
    web: Agent
    port: int
    api: dict[str, Instance] = field(default_factory=dict)

    # -- documents ---------------------------------------------------------------------------
    def put(self, kind: str, document: dict[str, Any], service: str = "api") -> None:
        """Write a document and wait until web's agent has this version in force."""
        consul = self.mesh.stack.consul()
        key = f"{PREFIX}/{kind}/{service}"
        assert consul.kv.put(key, json.dumps(document))
        _, entry = consul.kv.get(key)
        index = entry["ModifyIndex"]
        for agent in self.agents_in("dc1"):
            wait_until(
                lambda agent=agent: agent.status().get("config_versions", {}).get(f"{kind}/{service}") == index,
                10,
                what=f"{kind}/{service} in force on {agent.node}",
            )
            wait_until(agent.settled, 10, what=f"{agent.node}'s data plane to take {kind}/{service}")

    def delete(self, kind: str, service: str = "api") -> None:
        self.mesh.stack.consul().kv.delete(f"{PREFIX}/{kind}/{service}")
        for agent in self.agents_in("dc1"):
            wait_until(
                lambda agent=agent: f"{kind}/{service}" not in agent.status().get("config_versions", {}),
                10,
                what=f"{kind}/{service} removed on {agent.node}",
            )
            wait_until(agent.settled, 10, what=f"{agent.node}'s data plane to drop {kind}/{service}")

    def agents_in(self, datacenter: str) -> list[Agent]:
        """The agents that read this datacenter's KV (web is in dc1)."""
        found = [i.agent for i in self.api.values() if i.datacenter == datacenter]
        return [self.web, *found] if datacenter == "dc1" else found

    # -- traffic -----------------------------------------------------------------------------
    def connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.web.host, self.port, timeout=timeout)

    def get(self, conn: http.client.HTTPConnection, path: str = "/") -> Reply:
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, body, time.perf_counter() - started)

    def replies(self, n: int, path: str = "/") -> list[Reply]:
        """`n` requests, one after another, over one keep-alive connection."""
        conn = self.connect()
        try:
            return [self.get(conn, path) for _ in range(n)]
        finally:
            conn.close()

    def statuses(self, n: int, path: str = "/") -> Counter[int]:
        return Counter(r.status for r in self.replies(n, path))

    def served_by(self, n: int) -> Counter[str]:
        return Counter(r.instance if r.status == 200 else str(r.status) for r in self.replies(n))

    # -- what web's agent knows --------------------------------------------------------------
    def endpoints(self, datacenter: str = "dc1") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.web.status().get("endpoints", {}).get(f"api@{datacenter}", [])
        return found

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for line in self.web.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total


@contextmanager
def fleet(
    tmp: Path,
    name: str,
    instances: list[tuple[str, str, str]],
    *,
    checks: bool = False,
    datacenters: tuple[str, ...] = ("dc1",),
    plane: str = "builtin",
) -> Iterator[Fleet]:
    """Start the stand-ins, `instances` as (name, version, datacenter), and web; http everywhere."""
    with running_stack(name, datacenters=datacenters) as stack:
        mesh = Mesh(tmp, stack, plane)
        try:
            # Written once: Consul replicates intentions from the primary datacenter to the others.
            stack.allow("web", "api")
            found = _start(mesh, stack, instances, checks)
            found.put("service-defaults", {"Protocol": "http"})
            yield found
        finally:
            mesh.close()


def _start(mesh: Mesh, stack: Stack, instances: list[tuple[str, str, str]], checks: bool) -> Fleet:
    api: dict[str, Instance] = {}
    for instance, version, dc in instances:
        host = mesh.host()
        port = mesh.app("api", host, instance=instance)
        service: dict[str, Any] = {
            "name": "api",
            "port": port,
            "address": host,
            "protocol": "http",
            "meta": {"version": version},
        }
        if checks:
            service["check"] = CHECK
        extra: dict[str, Any] = {}
        if dc != "dc1":
            extra = {"datacenter": dc, "consul": {"address": stack.info["datacenters"][dc]}}
        agent = mesh.agent(f"host-{instance}", host, [service], **extra)
        api[instance] = Instance(instance, host, port, agent, dc)
    web_host = mesh.host()
    web, port = mesh.web_calling_api("host-web", web_host)
    found = Fleet(mesh, web, port, api)
    local = sum(1 for i in api.values() if i.datacenter == "dc1")
    wait_until(lambda: len(found.endpoints()) == local, 15, what=f"web sees {local} api endpoints")
    return found
