"""The estate-scale benchmark's pure parts (cases, what is registered, how the agent is read, the
table) and the counting stand-in on a real socket."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from bench.scale_cases import (
    CASES,
    Case,
    agent_services,
    applied_at,
    config_version,
    count_log_events,
    destination_names,
    endpoint_count,
    flip_pool,
    log_events,
    metric_sum,
    percentile,
    registration,
    remote_instances,
    total_endpoints,
)
from bench.scale_standin import COUNTS_PATH, count_requests, request_kind
from bench.scale_table import Figures, render
from mesh.devstack.consul import ConsulServer
from mesh.snapshot.endpoints import endpoints_from_health


def test_the_cases_are_the_issues_estates() -> None:
    acceptance = CASES["50x3"]
    assert (acceptance.destinations, acceptance.endpoints) == (150, 1500)
    assert Counter(i.service for i in remote_instances(acceptance)) == Counter(
        {f"est-dest-{s:03d}": 10 for s in range(200)}
    )
    assert (CASES["20x3"].destinations, CASES["20x3"].endpoints) == (60, 1000)
    assert CASES["500"].destinations == len(set(destination_names(CASES["500"]))) == 500
    assert CASES["1x1"].destinations == 1


def test_a_case_needs_as_many_remote_services_as_destinations() -> None:
    with pytest.raises(ValueError, match="destinations"):
        Case("bad", 10, 3, 20, 100)
    with pytest.raises(ValueError, match="at least 1"):
        Case("bad", 0, 3, 20, 100)


def test_every_upstream_is_its_own_destination_and_listener() -> None:
    case = CASES["20x3"]
    services = agent_services(case, "127.0.0.2", list(range(20)), list(range(100, 160)))
    destinations = [u["destination_name"] for s in services for u in s["upstreams"]]
    assert destinations == list(destination_names(case))
    assert sorted(u["local_bind_port"] for s in services for u in s["upstreams"]) == list(range(100, 160))
    with pytest.raises(ValueError, match="one app port per local service"):
        agent_services(case, "127.0.0.2", [1], [2])


def test_registrations_are_connect_proxies_the_agent_reads_as_endpoints() -> None:
    case = CASES["50x3"]
    pool = flip_pool(case)
    assert len({i.service for i in pool}) == len(pool) == 32
    checked, plain = registration(pool[0]), registration(remote_instances(case)[-1])
    assert (checked["Check"]["Status"], checked["Check"]["CheckID"]) == ("passing", pool[0].check_id)
    assert "Check" not in plain
    entries = [
        {
            "Node": {"Node": "devstack-dc1", "Datacenter": "dc1"},
            "Service": {**body, "Service": body["Name"], "Weights": {"Passing": 1, "Warning": 1}},
            "Checks": [],
        }
        for body in (checked, plain)
    ]
    endpoints = endpoints_from_health(entries, "dc1")
    assert [(e.address, e.port) for e in endpoints] == [(checked["Address"], 20000), (plain["Address"], 20000)]


def test_what_is_read_from_the_agent() -> None:
    text = "\n".join(
        [
            "# HELP mesh_consul_requests_total x",
            'mesh_consul_requests_total{result="ok"} 120.0',
            'mesh_consul_requests_total{result="unreachable"} 2.0',
            'mesh_consul_requests_total{result="refused"} 1.0',
            'mesh_consul_watch_errors_total{watch="kv"} 3.0',
            "mesh_consul_watch_errors_created 1.7e9",
        ]
    )
    assert metric_sum(text, "mesh_consul_requests_total", exclude_label='result="ok"') == 3.0
    assert metric_sum(text, "mesh_consul_watch_errors_total") == 3.0
    assert metric_sum(text, "absent") == 0.0
    counted = {"endpoint_counts": {"a@dc1": 3, "a@dc2": 1, "b@dc1": 2}, "config_versions": {"intentions": 9}}
    listed = {"endpoints": {"a@dc1": [{}, {}], "b@dc1": [{}]}}
    assert (endpoint_count(counted, "a"), endpoint_count(listed, "a"), endpoint_count(listed, "c")) == (4, 2, None)
    assert (total_endpoints(counted), total_endpoints(listed), total_endpoints({})) == (6, 3, 0)
    assert (config_version(counted, "intentions"), config_version(counted, "kv"), config_version({}, "kv")) == (9, 0, 0)


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 31)]
    assert percentile(samples, 50) == 15.5
    assert percentile(samples, 99) == 30.0
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 99)


def test_the_agents_log_says_when_a_document_applied_and_how_often_it_went_fail_static(tmp_path: Path) -> None:
    key = "mesh/config/service-resolver/est-dest-000"
    lines = [
        json.dumps({"event": "traffic document applied", "key": key, "modify_index": 7, "ts": "2026-01-01T00:00:01Z"}),
        json.dumps(
            {"event": "traffic document applied", "key": key, "modify_index": 8, "ts": "2026-01-01T00:00:02.5Z"}
        ),
        json.dumps({"event": "fail-static: serving the last good snapshot", "level": "warning"}),
        json.dumps({"event": "fail-static over: Consul answers and every source is live again", "level": "info"}),
        json.dumps({"event": "fail-static: serving the last good snapshot", "level": "warning"}),
        json.dumps({"event": "watch failed", "level": "error"}),
        "not json",
        "[]",
    ]
    assert applied_at([line.encode() for line in lines], key, 8) == 1767225602.5
    assert applied_at([line.encode() for line in lines], key, 9) is None
    assert count_log_events(lines) == (2, 3)
    (tmp_path / "agent.log").write_text("\n".join(lines))
    assert log_events(tmp_path / "agent.log") == (2, 3)
    assert log_events(tmp_path / "absent.log") == (0, 0)


def test_the_table_has_a_column_per_case_and_says_what_went_wrong() -> None:
    ok = Figures("1x1", "one", ready_s=1.25, kv_s=[0.006] * 30, idle_s=10, idle_requests={"ttl": 4, "blocking": 1})
    broken = Figures("500", "many", problem="StartupError: agent did not start")
    table = render([ok, broken])
    assert table.splitlines()[0] == "| host | one | many |"
    assert "| start-up to /ready | 1.2 s | - |" in table
    assert "| KV document applied, p50 / p99 | 6.0 / 6.0 ms | - |" in table
    assert "0.50/s (blocking 0.10, ttl 0.40)" in table
    assert table.endswith("- many: StartupError: agent did not start")


def test_requests_are_counted_by_kind() -> None:
    assert request_kind("PUT", "/v1/agent/check/pass/mesh-agent:n1", False) == "ttl"
    assert request_kind("PUT", "/v1/agent/check/update/x", False) == "ttl"
    assert request_kind("GET", "/v1/health/connect/api", True) == "blocking"
    assert request_kind("GET", "/v1/health/connect/api", False) == "read"
    assert request_kind("PUT", "/v1/kv/a", False) == "write"


async def test_the_counting_stand_in_counts_what_it_serves_and_not_the_count_itself() -> None:
    server = ConsulServer(trust_domain="11111111-2222-3333-4444-555555555555.consul")
    counts: Counter[str] = Counter()
    count_requests(server, counts)
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{server.url}/v1/kv/a", data=b"1") as resp:
                assert resp.status == 200
            async with session.get(f"{server.url}/v1/kv/a", params={"index": "1", "wait": "1ms"}) as resp:
                assert resp.status == 200
            for _ in range(2):
                async with session.get(f"{server.url}{COUNTS_PATH}") as resp:
                    answered = await resp.json()
    finally:
        await server.stop()
    assert answered == {"write": 1, "blocking": 1}
