"""How `meshctl topology` prints: the edge table and Graphviz DOT, refused edges marked in both."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from mesh.cli.intention_check import intention_table
from mesh.cli.topology_graph import Service, Topology, Traffic, build
from mesh.cli.topology_render import format_latency, render_dot, render_text


def estate(*, with_traffic: bool = True) -> Topology:
    services = [
        Service("api", "http", 2, ()),
        Service("billing", "http", 1, ()),
        Service("web", "http", 1, (("api", None), ("billing", None))),
        Service("batch", "tcp", 1, ()),
    ]
    traffic = {
        ("web", "api"): Traffic(requests=1200, errors=12, rps=4.0, p99=0.0123),
        ("cron", "api"): Traffic(requests=7, errors=0, rps=None, p99=1.5),
    }
    return build(
        services,
        intention_table(
            [
                {"SourceName": "web", "DestinationName": "api", "Action": "allow"},
                {"SourceName": "cron", "DestinationName": "api", "Action": "allow"},
            ]
        ),
        default_allow=False,
        traffic=traffic if with_traffic else None,
        traffic_from="Prometheus http://prom:9090, last 5m" if with_traffic else None,
    )


def test_the_text_is_one_row_per_edge_with_traffic_and_refused_edges_marked() -> None:
    text = render_text(estate())
    lines = text.splitlines()
    assert lines[0] == "intentions.default deny; traffic from Prometheus http://prom:9090, last 5m"
    rows = {tuple(re.split(r"\s{2,}", line)[:3]): line for line in lines if "=>" in line}
    assert set(rows) == {("cron", "=>", "api"), ("web", "=>", "api"), ("web", "=>", "billing")}
    assert re.search(r"allowed\s+4\.00\s+1\.0%\s+12\.3ms", rows[("web", "=>", "api")])
    assert "7 req" in rows[("cron", "=>", "api")]
    assert "observed, not declared as an upstream" in rows[("cron", "=>", "api")]
    billing = rows[("web", "=>", "billing")]
    assert "DENIED" in billing
    assert "no intention matches web => billing; default deny" in billing
    assert re.search(r"DENIED\s+0\s+-\s+-", billing), "asked for traffic, none seen: 0, not blank"
    assert lines[-1] == "services with no edge: batch"


def test_without_traffic_the_table_says_how_to_get_it() -> None:
    text = render_text(estate(with_traffic=False))
    assert "no traffic asked for (see --prometheus, --metrics)" in text
    assert "4.00" not in text


def test_an_estate_without_edges_says_so() -> None:
    empty = build([Service("api", "http", 1, ())], intention_table([]), default_allow=False)
    assert "no edges:" in render_text(empty)


def test_dot_draws_every_service_and_edge_and_dashes_refused_ones_in_red() -> None:
    dot = render_dot(estate())
    assert dot.startswith("digraph mesh {\n")
    assert dot.endswith("}\n")
    assert '"web" -> "api" [label="4.00 rps\\n1.0% errors\\np99 12.3ms"];' in dot
    assert '"web" -> "billing" [label="DENIED\\nno traffic", color=red, fontcolor=red, style=dashed];' in dot
    assert '"cron" -> "api" [label="7 req\\n0.0% errors\\np99 1.50s", style=dotted];' in dot
    assert '"cron" [label="cron", style=dashed];' in dot  # seen in traffic, not registered
    assert '"batch" [label="batch\\ntcp, 1 instance(s)"];' in dot


def test_dot_quotes_hostile_names() -> None:
    hostile = build([Service('a"b\\', "http", 1, (("c\nd", None),))], intention_table([]), default_allow=True)
    dot = render_dot(hostile)
    assert '"a\\"b\\\\" -> "c\\nd"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot not installed")
def test_graphviz_accepts_the_dot() -> None:
    proc = subprocess.run(["dot", "-Tsvg"], input=render_dot(estate()), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in proc.stdout


def test_latency_is_printed_in_milliseconds_below_a_second() -> None:
    assert (format_latency(None), format_latency(0.0004), format_latency(2.5)) == (None, "0.4ms", "2.50s")
