"""meshctl, run as operators run it (a subprocess), against the stand-ins and real agents."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Mesh, Stack
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

SPLITTER_KEY = "mesh/config/service-splitter/api"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def meshctl(stack: Stack, *argv: str, agent: Agent | None = None) -> Result:
    extra = ["--admin", agent.admin] if agent is not None else []
    proc = subprocess.run(
        [sys.executable, "-m", "mesh.cli.meshctl", "--consul-addr", stack.info["consul"], *extra, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def through(agent: Agent, port: int, path: str = "/", headers: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The echo app's answer to one request through an upstream listener; None when refused."""
    try:
        code, body = http_get(f"http://{agent.host}:{port}{path}", timeout=5, headers=headers)
    except OSError:
        return None
    return json.loads(body) if code == 200 else None


def web_calls_api(mesh: Mesh, *, upstream_port: int = 15101) -> tuple[Agent, Agent]:
    a_host, b_host = mesh.host(), mesh.host()
    api = mesh.app("api", b_host)
    web = mesh.app("web", a_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": api, "address": b_host}])
    upstream = {"destination_name": "api", "local_bind_port": upstream_port, "local_bind_address": a_host}
    a = mesh.agent("host-a", a_host, [{"name": "web", "port": web, "address": a_host, "upstreams": [upstream]}])
    return a, b


def test_config_put_refuses_an_invalid_document_and_kv_is_unchanged(stack: Stack, tmp_path: Path) -> None:
    good = '{"Splits": [{"Weight": 100, "Service": "api"}]}'
    assert stack.consul().kv.put(SPLITTER_KEY, good)
    bad = tmp_path / "splitter.yaml"
    bad.write_text("Splits:\n  - Weight: 90\n    Service: api\n  - Weight: 20\n    Service: web\n")
    result = meshctl(stack, "config", "put", "service-splitter", "api", str(bad))
    assert result.code == 1
    assert "Splits: weights add up to 110; they must add up to 100" in result.err
    assert stack.consul().kv.get(SPLITTER_KEY)[1]["Value"] == good.encode()


def test_a_valid_put_is_written_and_get_returns_it(stack: Stack, tmp_path: Path) -> None:
    doc = tmp_path / "defaults.yaml"
    doc.write_text("Protocol: http\nLocalRequestTimeoutMs: 3000\n")
    put = meshctl(stack, "config", "put", "service-defaults", "api", str(doc))
    assert (put.code, put.out) == (0, "created mesh/config/service-defaults/api\n")
    got = meshctl(stack, "config", "get", "service-defaults", "api", "-o", "json")
    assert got.code == 0
    assert got.json() == {"Protocol": "http", "LocalRequestTimeoutMs": 3000}
    assert meshctl(stack, "config", "diff", "service-defaults", "api", str(doc)).code == 0


def test_intention_check_answers_as_the_data_plane_does(mesh: Mesh) -> None:
    a, _b = web_calls_api(mesh)
    port = 15101

    def agrees(expected_allowed: bool) -> None:
        verdict = meshctl(mesh.stack, "intention", "check", "web", "api", "-o", "json")
        assert verdict.json()["allowed"] is expected_allowed
        assert verdict.code == (0 if expected_allowed else 1)
        wait_until(
            lambda: (through(a, port) is not None) == expected_allowed,
            5,
            what=f"the data plane to {'allow' if expected_allowed else 'refuse'} web => api",
        )

    agrees(False)  # no intention: the default, deny
    mesh.stack.allow("*", "api")
    agrees(True)
    mesh.stack.deny("web", "api")
    agrees(False)  # the exact deny outranks the wildcard allow, in meshctl and in the agent


def test_status_and_certs_describe_the_running_agent(mesh: Mesh) -> None:
    a, _b = web_calls_api(mesh)
    wait_until(lambda: a.status()["endpoints"].get("api@dc1"), 5, what="api endpoint known to host-a")
    status = meshctl(mesh.stack, "status", "-o", "json", agent=a)
    assert status.code == 0
    doc = status.json()
    assert (doc["node"], doc["ready"]) == ("host-a", True)
    table = meshctl(mesh.stack, "status", agent=a)
    assert table.code == 0
    assert "node host-a  datacenter dc1" in table.out
    assert "1 healthy" in table.out

    certs = meshctl(mesh.stack, "certs", "-o", "json", agent=a)
    assert certs.code == 0
    [row] = certs.json()
    cert = doc["services"][0]["certificate"]
    assert row["serial"] == cert["serial"]
    assert row["spiffe_id"] == f"spiffe://{mesh.stack.info['trust_domain']}/ns/default/dc/dc1/svc/web"
    assert 0 < row["renews_in_seconds"] < row["expires_in_seconds"] <= 3600


RESOLVER = {
    "DefaultSubset": "v1",
    "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}},
}
SPLIT_50_50 = {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]}
CANARY_ROUTE = {
    "Routes": [
        {"Match": {"HTTP": {"Header": [{"Name": "x-canary", "Exact": "1"}]}}, "Destination": {"ServiceSubset": "v2"}}
    ]
}


def put(stack: Stack, tmp_path: Path, kind: str, body: str) -> None:
    document = tmp_path / f"{kind}.yaml"
    document.write_text(body)
    assert meshctl(stack, "config", "put", kind, "api", str(document)).code == 0


def served(agent: Agent, port: int, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    """The instance the echo app reports for each of `n` requests through web's upstream listener."""
    counts: Counter[str] = Counter()
    for _ in range(n):
        answer = through(agent, port, headers=headers)
        counts[answer["instance"] if answer is not None else "refused"] += 1
    return counts


def test_explain_names_the_route_subset_and_instance_requests_actually_take(mesh: Mesh, tmp_path: Path) -> None:
    port = 15102
    for version in ("v1", "v2"):
        host = mesh.host()
        # The echo app reports the instance id the agent registers (`<name>-<node>`), as explain names it.
        app = mesh.app("api", host, instance=f"api-host-{version}")
        service = {"name": "api", "port": app, "address": host, "protocol": "http", "meta": {"version": version}}
        mesh.agent(f"host-{version}", host, [service])
    web_host = mesh.host()
    upstream = {"destination_name": "api", "local_bind_port": port, "local_bind_address": web_host}
    web_service = {"name": "web", "port": mesh.app("web", web_host), "address": web_host, "upstreams": [upstream]}
    web = mesh.agent("host-web", web_host, [web_service])
    mesh.stack.allow("web", "api")
    put(mesh.stack, tmp_path, "service-resolver", json.dumps(RESOLVER))
    put(mesh.stack, tmp_path, "service-splitter", json.dumps(SPLIT_50_50))
    put(mesh.stack, tmp_path, "service-router", json.dumps(CANARY_ROUTE))
    canary_header = {"x-canary": "1"}
    wait_until(lambda: served(web, port, 5, canary_header) == {"api-host-v2": 5}, 10, what="the canary route in force")

    canary = meshctl(mesh.stack, "explain", "api", "--header", "x-canary=1", "-o", "json", agent=web).json()
    assert canary["ejections"]["unknown"] is None  # read from web's agent
    e = canary["explain"]
    assert (e["route"]["index"], e["target"]["subset"], e["split"]) == (0, "v2", None)
    assert served(web, port, 20, canary_header) == {e["endpoints"]["chosen"]["instance"]: 20}

    plain = meshctl(mesh.stack, "explain", "api", "-o", "json", agent=web).json()["explain"]
    assert plain["route"]["index"] is None
    assert plain["route"]["tried"] == [
        {"index": 0, "reason": "Header['x-canary']: header absent (needed for Exact '1')"}
    ]
    weights = {s["target"]: s["weight"] for s in plain["split"]["splits"]}
    assert weights == {"api/v1@dc1": 50, "api/v2@dc1": 50}
    # The draw is the one fact a dry run cannot share with the request; what it implies can be:
    # the instance explain picks is in the subset it drew, and requests divide as its weights say.
    assert plain["endpoints"]["chosen"]["instance"] == f"api-host-{plain['target']['subset']}"
    counts = served(web, port, 200)
    assert set(counts) == {"api-host-v1", "api-host-v2"}
    assert 70 <= counts["api-host-v1"] <= 130, counts


CANARY_RESOLVER = (
    "Subsets:\n  v1:\n    Filter: Service.Meta.version == v1\n  v2:\n    Filter: Service.Meta.version == v2\n"
)
CANARY_SPLITTER = '{"Splits": [{"Weight": 90, "ServiceSubset": "v1"}, {"Weight": 10, "ServiceSubset": "v2"}]}'


def test_config_put_with_two_files_writes_both_at_one_index(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "resolver.yaml").write_text(CANARY_RESOLVER)
    (tmp_path / "splitter.json").write_text(CANARY_SPLITTER)
    put = meshctl(
        stack,
        "config",
        "put",
        "service-resolver",
        "orders",
        str(tmp_path / "resolver.yaml"),
        "service-splitter",
        "orders",
        str(tmp_path / "splitter.json"),
        "-o",
        "json",
    )
    assert put.code == 0, put.err
    kv = stack.consul().kv
    resolver = kv.get("mesh/config/service-resolver/orders")[1]
    splitter = kv.get("mesh/config/service-splitter/orders")[1]
    assert resolver["ModifyIndex"] == splitter["ModifyIndex"] == put.json()["index"]
    assert [d["outcome"] for d in put.json()["documents"]] == ["created", "created"]


def test_config_put_with_one_invalid_file_of_two_writes_neither(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "resolver.yaml").write_text(CANARY_RESOLVER)
    (tmp_path / "splitter.yaml").write_text("Splits:\n  - Weight: 90\n    ServiceSubset: v1\n")
    put = meshctl(
        stack,
        "config",
        "put",
        "service-resolver",
        "billing",
        str(tmp_path / "resolver.yaml"),
        "service-splitter",
        "billing",
        str(tmp_path / "splitter.yaml"),
    )
    assert put.code == 1
    assert "weights add up to 90" in put.err
    kv = stack.consul().kv
    assert kv.get("mesh/config/service-resolver/billing")[1] is None
    assert kv.get("mesh/config/service-splitter/billing")[1] is None
