"""The Envoy plane's rows: the agents' config, reading what each Envoy carried, h2load's report,
the ratios against the Envoy pair and against direct h2c, and the scale row of agent + Envoy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.h2_rows import hop_note, run_h2_rows
from bench.h2load import GRPC_HEADERS, H2Load, h2load_argv, parse_h2load, parse_log, percentile
from bench.mesh_pair import agent_config, envoy_hop_kind, envoy_plane_config
from bench.procfs import parse_children
from bench.report import (
    Row,
    ScaleRow,
    h2_ratios,
    median_rounds,
    ratios,
    render_h2_table,
    render_scale_table,
    render_table,
    to_json,
)
from bench.scale_envoy_plane import upstream_members
from bench.scale_topology import topology
from bench.scenarios import Plan, Run
from bench.supervisor import Supervisor
from bench.tools import Tool, Toolbox
from bench.upstream import GRPC_PATH, Upstream, nginx_conf
from bench.wrk import WrkOutputError, WrkResult
from mesh.config.load import parse_config

H2LOAD_OUT = """\
starting benchmark...
spawning thread #0: 1 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration.
Application protocol: h2c

finished in 2.00s, 7155.00 req/s, 1.02MB/s
requests: 14310 total, 14312 started, 14305 done, 14300 succeeded, 5 failed, 2 errored, 1 timeout
status codes: 14290 2xx, 1 3xx, 4 4xx, 5 5xx
traffic: 2.05MB (2146500) total, 2.81MB (2950325) headers (space savings 39.47%), 425.91KB (436135) data
"""


def result(rps: float, p99_ms: float, requests: int = 10_000) -> WrkResult:
    return WrkResult(
        requests=requests, duration_s=10.0, rps=rps, p50_ms=p99_ms / 2, p99_ms=p99_ms, socket_errors=0, non_2xx=0
    )


def test_the_agents_envoy_plane_config_is_one_the_agent_accepts_with_one_worker(tmp_path: Path) -> None:
    info: dict[str, Any] = {"consul": "http://127.0.0.1:8500", "vault": "http://127.0.0.1:8200"}
    info |= {"pki_path": "pki", "pki_role": "mesh"}
    services = [{"name": "origin-h2c-envoy", "port": 8080, "address": "127.0.0.3"}]  # protocol from KV
    extra = envoy_plane_config("127.0.0.1", 19123)
    config = agent_config(tmp_path, info, node="n", host="127.0.0.3", services=services, extra=extra)
    parsed = parse_config(yaml.safe_dump(config))
    assert parsed.data_plane == "envoy"
    assert parsed.envoy.concurrency == 1
    assert (parsed.envoy.admin_listen.host, parsed.envoy.admin_listen.port) == ("127.0.0.1", 19123)


def test_an_envoy_hop_is_http_when_a_connection_manager_other_than_the_admins_completed_a_request() -> None:
    idle = {"http.admin.downstream_rq_completed": 40, "http.upstream.a.b.downstream_rq_completed": 0}
    assert envoy_hop_kind(idle) == "none"
    assert envoy_hop_kind({**idle, "tcp.inbound_b.downstream_cx_total": 1}) == "tcp"
    both = {**idle, "tcp.inbound_b.downstream_cx_total": 1, "http.inbound_b.downstream_rq_completed": 3}
    assert envoy_hop_kind(both) == "http"
    assert hop_note(("http", "tcp")) == "A: L7 (per request), B: L4 (tcp_proxy)"


def test_h2loads_report_and_request_log_give_throughput_percentiles_and_errors() -> None:
    log = "".join(f"17966907187{i:05d}\t200\t{d}\n" for i, d in enumerate(range(100, 200)))
    found = parse_h2load(H2LOAD_OUT, log + "garbage line\n")
    assert found.requests == 14305
    assert found.rps == pytest.approx(7155.0)
    assert found.p50_ms == pytest.approx(0.149)  # the 50th of 100 durations 100..199 us
    assert found.p99_ms == pytest.approx(0.198)
    assert found.socket_errors == 8  # failed + errored + timeout
    assert found.non_2xx == 10


def test_an_h2load_report_without_its_numbers_or_request_log_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(WrkOutputError, match="request log lines"):
        parse_h2load(H2LOAD_OUT, "")
    with pytest.raises(WrkOutputError, match="finished, requests, status codes"):
        parse_h2load("h2load: invalid option\n", "1\t200\t5\n")


def test_percentile_is_nearest_rank_and_needs_values() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 99) == 4
    assert percentile([7], 1) == 7
    assert parse_log("1\t200\t12\n2\t503\t30\n") == [12, 30]
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_a_grpc_run_posts_the_message_with_grpcs_headers_over_h2c(tmp_path: Path) -> None:
    argv = h2load_argv(
        "h2load",
        "http://127.0.0.2:1/x",
        H2Load(1, 32),
        seconds=10,
        log_file=tmp_path / "l",
        data_file=tmp_path / "d",
        headers=GRPC_HEADERS,
    )
    assert argv[:6] == ["h2load", "-t1", "-c1", "-m32", "-D", "10"]
    assert argv[argv.index("-d") + 1] == str(tmp_path / "d")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-H"] == ["content-type: application/grpc", "te: trailers"]
    assert argv[-1] == "http://127.0.0.2:1/x"


def test_nginxs_h2c_server_serves_the_site_without_sendfile_and_answers_the_grpc_path(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path, "127.0.0.1", 8080, None, h2c_port=8081)
    h2c = conf[conf.index("listen 127.0.0.1:8081 http2;") :]
    assert "sendfile off;" in h2c
    assert f"location /{GRPC_PATH.split('/')[0]}/" in h2c
    assert "add_trailer grpc-status 0;" in h2c
    assert "http2" not in nginx_conf(tmp_path, "127.0.0.1", 8080, None)


def test_the_mesh_on_envoy_rows_are_compared_with_the_envoy_pair_and_show_the_agents_cpu() -> None:
    rows = [
        Row("envoy", "L7", "small", 1, result(5000, 1.0), cpu_s=(1.0, 1.0)),
        Row("mesh-envoy", "L7", "small", 1, result(4750, 1.1), cpu_s=(1.1, 1.1), side_cpu_s=(0.3, 0.0)),
        Row("mesh", "L7", "small", 1, result(2000, 3.0)),
    ]
    ours = ratios(rows, "mesh-envoy")[("L7", "small", 1)]
    assert ours.rps == pytest.approx(0.95)
    assert ours.p99 == pytest.approx(1.1)
    assert ours.cpu == pytest.approx(1.1)
    assert ratios(rows)[("L7", "small", 1)].rps == pytest.approx(0.4)
    lines = render_table(rows).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["mesh L7", "mesh on envoy L7", "envoy L7"]
    cells = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert cells[7] == "220 us (110+110); agents 30 us"
    assert cells[9:] == ["0.95x", "1.10x"]
    entry = next(e for e in to_json(rows, {})["rows"] if e["scenario"] == "mesh-envoy")
    assert entry["vs_envoy"]["rps_ratio"] == pytest.approx(0.95)
    assert entry["side_cpu_us_per_request"] == pytest.approx(30.0)


def test_http2_rows_have_their_own_table_compared_with_direct_h2c_in_the_same_shape() -> None:
    rows = [
        Row("direct", "H2C", "small", 1, result(10000, 0.5), streams=32),
        Row("mesh-envoy", "H2C", "small", 1, result(4000, 2.0), streams=32, note="A: L7 (per request)"),
        Row("mesh-envoy", "H2C", "small", 1, result(3000, 1.0), streams=1),  # no direct row in that shape
        Row("mesh-envoy", "GRPC", "unary", 1, streams=1, unavailable="h2load not found"),
        Row("mesh", "L4", "small", 1, result(9000, 0.3)),
    ]
    assert set(h2_ratios(rows)) == {("H2C", "small", 1, 32)}
    assert h2_ratios(rows)[("H2C", "small", 1, 32)].rps == pytest.approx(0.4)
    table = render_h2_table(rows).splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == [
        "mesh on envoy h2c",
        "direct nginx h2c",
        "mesh on envoy h2c",
        "mesh on envoy grpc",
    ]
    loaded = [c.strip() for c in table[4].split("|")[1:-1]]
    assert (loaded[2], loaded[-3:]) == ("1x32", ["0.40x", "4.00x", "A: L7 (per request)"])
    assert "n/a (h2load not found)" in table[5]
    assert "h2c" not in render_table(rows).lower()
    assert render_h2_table(rows[-1:]) == ""


def test_children_are_read_from_every_thread_once_each() -> None:
    assert parse_children(["12 7 ", "", "7 30\n"]) == (7, 12, 30)


def test_the_agents_envoy_counts_members_of_the_topologys_upstream_clusters_only() -> None:
    topo = topology()
    dest = topo.destinations[0]
    stats = {
        f"cluster.scale-svc-00/{dest}.default.dc1.internal.td.consul.membership_total": 17,
        f"cluster.scale-svc-00/{topo.destinations[1]}.default.dc1.internal.td.consul.membership_total": 16,
        "cluster.local-app/scale-svc-00.membership_total": 1,
        "cluster.mesh-xds.membership_total": 1,
    }
    assert upstream_members(stats, topo) == 33


def test_the_scale_table_shows_the_agent_and_its_envoy_added_up_against_one_envoy() -> None:
    rows = [
        ScaleRow("envoy", "case", 20, 60, 1000, 102400),
        ScaleRow("mesh-envoy", "case", 1, 60, 1000, 204800, parts_kib=(112640, 92160)),
        ScaleRow("mesh", "case", 1, 60, 1000, 81920),
    ]
    lines = render_scale_table(rows).splitlines()[2:]
    assert [line.split("|")[2].strip() for line in lines] == ["mesh agent", "mesh agent + its envoy", "envoy (one)"]
    assert "200.0 MiB (110.0+90.0)" in lines[1]
    assert "2.00x" in lines[1]
    assert "0.80x" in lines[0]
    scale = to_json([], {}, rows)["scale"]
    assert scale["rss_ratio"] == pytest.approx(0.8)
    assert scale["mesh_envoy_rss_ratio"] == pytest.approx(2.0)


def test_rounds_keep_the_median_rps_row_of_each_case_in_first_seen_order() -> None:
    rows = [
        Row("envoy", "L4", "small", 1, result(900, 1.0)),
        Row("mesh-envoy", "L4", "small", 1, result(100, 9.0)),
        Row("envoy", "L4", "small", 1, result(1000, 2.0)),
        Row("mesh-envoy", "L4", "small", 1, result(950, 1.5)),
        Row("envoy", "L4", "small", 1, result(1100, 3.0)),
        Row("mesh-envoy", "L4", "small", 1, result(960, 1.4)),
        Row("mesh-envoy", "H2C", "small", 1, result(50, 1.0), streams=32),
    ]
    kept = median_rounds(rows)
    assert [(r.scenario, r.mode, r.result.rps if r.result else None, r.rounds) for r in kept] == [
        ("envoy", "L4", 1000, 3),
        ("mesh-envoy", "L4", 950, 3),
        ("mesh-envoy", "H2C", 50, 1),
    ]
    assert median_rounds(rows[:1]) == rows[:1]


def test_without_h2load_the_http2_rows_say_how_to_install_it_and_nothing_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no h2load on it
    said: list[str] = []
    tool = Tool("x", "/bin/true")
    plan = Plan(scenarios=("direct-h2c", "mesh-envoy-grpc"), bodies=("small",))
    with Supervisor(tmp_path, cwd=tmp_path) as supervisor:
        run = Run(plan, Toolbox(tool, tool, tool), supervisor, tmp_path, said.append)
        run_h2_rows(run, Upstream("127.0.0.1", 1, 2))
    assert {(r.scenario, r.mode, r.body, r.streams) for r in run.rows} == {
        ("direct", "H2C", "small", 1),
        ("direct", "H2C", "small", 32),
        ("mesh-envoy", "GRPC", "unary", 1),
        ("mesh-envoy", "GRPC", "unary", 32),
    }
    assert {r.unavailable for r in run.rows} == {"h2load not found (Debian: apt-get install nghttp2-client)"}
    assert any("apt-get install nghttp2-client" in line for line in said)
    assert run.info is None  # the stand-ins were never started
    assert "n/a (h2load not found" in render_h2_table(run.rows)
