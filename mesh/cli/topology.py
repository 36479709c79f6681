"""`meshctl topology`: the service graph from Consul, joined with live traffic.

Reads (each once per run): Consul's catalog for the service names, `/v1/health/connect/<name>`
for each one's proxies and their upstreams, `/v1/connect/intentions` for the verdicts (decided
by the agents' own code, as `meshctl intention check` does); then, if asked, the traffic:
`--prometheus URL` (three instant queries over `--window`, 5m by default) or `--metrics URL`,
repeated, for agents' admin APIs (one scrape each: totals since the agents started; with
`--window`, two scrapes that far apart: rates). The graph is built and printed by the pure
modules topology_graph, topology_traffic and topology_render.

`--format svg` pipes the DOT through Graphviz's `dot`, which must be on PATH.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any, TextIO

from mesh.cli.consul_api import ConsulApi
from mesh.cli.errors import OK, AgentUnreachable, Refused
from mesh.cli.intention_check import intention_table
from mesh.cli.options import consul_for, output_of
from mesh.cli.output import dump
from mesh.cli.topology_graph import EdgeKey, Topology, Traffic, as_document, build, services_from_connect_health
from mesh.cli.topology_render import render_dot, render_text
from mesh.cli.topology_traffic import (
    EdgeCounts,
    UnusableAnswer,
    edge_counts,
    prometheus_queries,
    traffic_from_counts,
    traffic_from_prometheus,
    vector_by_edge,
)
from mesh.consul.registration import PROXY_SUFFIX
from mesh.durations import format_duration, parse_duration
from mesh.errors import BackendUnavailable

_TIMEOUT = 10.0
_MAX_BODY = 32 * 1024 * 1024  # an agent's /metrics or a Prometheus answer larger than this is not one
_DEFAULT_PROMETHEUS_WINDOW = 300.0


class PrometheusUnreachable(BackendUnavailable):
    """Prometheus did not answer."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "topology",
        parents=[common],
        help="the service graph from Consul (upstreams, intentions) with per-edge traffic",
        description="Draw the services registered in Consul, the upstreams they declare and whether "
        "intentions allow each edge; with --prometheus or --metrics, each edge's requests a second, "
        "error ratio and p99 latency as the callers' agents counted them.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--prometheus", metavar="URL", help="read traffic from this Prometheus (it scrapes the agents)")
    source.add_argument(
        "--metrics",
        metavar="URL",
        action="append",
        help="read traffic from this agent's admin API (its /metrics); repeat for each agent",
    )
    p.add_argument(
        "--window",
        metavar="DURATION",
        help="traffic over this window: the PromQL range (default 5m), or the time between two scrapes "
        "of --metrics (default: one scrape, totals since the agents started)",
    )
    p.add_argument(
        "--default",
        choices=("allow", "deny"),
        default="deny",
        help="the agents' intentions.default: the verdict when no intention matches (%(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("text", "dot", "svg"),
        default="text",
        help="text (an edge table; -o json|yaml for a document), Graphviz DOT, or SVG drawn by `dot` (text)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    window = _window(args.window)
    if args.format == "svg" and shutil.which("dot") is None:
        raise Refused(
            "--format svg needs Graphviz's `dot` on PATH (Debian: apt install graphviz); --format dot prints the DOT"
        )
    api = consul_for(args)
    services = services_from_connect_health(connect_answers(api))
    table_ = intention_table(api.intentions())
    traffic: dict[EdgeKey, Traffic] | None = None
    traffic_from: str | None = None
    if args.prometheus:
        traffic = prometheus_traffic(args.prometheus, window or _DEFAULT_PROMETHEUS_WINDOW)
        traffic_from = f"Prometheus {args.prometheus}, last {format_duration(window or _DEFAULT_PROMETHEUS_WINDOW)}"
    elif args.metrics:
        traffic = metrics_traffic(args.metrics, window)
        span = f"over {format_duration(window)}" if window else "totals since each agent started"
        traffic_from = f"/metrics of {len(args.metrics)} agent(s), {span}"
    topology = build(
        services, table_, default_allow=args.default == "allow", traffic=traffic, traffic_from=traffic_from
    )
    out.write(_printed(topology, args.format, output_of(args)))
    return OK


def _window(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise Refused(f"--window: {exc}") from None
    if seconds < 1:
        raise Refused(f"--window must be at least 1s, got {text!r}")
    return seconds


def _printed(topology: Topology, fmt: str, output: str) -> str:
    if fmt == "dot":
        return render_dot(topology)
    if fmt == "svg":
        return draw_svg(render_dot(topology))
    if output in ("json", "yaml"):
        return dump(as_document(topology), "yaml" if output == "yaml" else "json") + "\n"
    return render_text(topology) + "\n"


def connect_answers(api: ConsulApi) -> dict[str, list[dict[str, Any]]]:
    """`/v1/health/connect/<name>` for every service in the catalog but the proxies themselves."""
    return {name: api.connect_health(name) for name in api.catalog_services() if not name.endswith(PROXY_SUFFIX)}


def prometheus_traffic(url: str, window: float) -> dict[EdgeKey, Traffic]:
    base = _http_url(url, "--prometheus").rstrip("/")
    vectors = {}
    for figure, query in prometheus_queries(f"{round(window)}s").items():
        body = _get(
            f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query}),
            PrometheusUnreachable,
            "Prometheus",
            accept_4xx=True,
        )
        try:
            vectors[figure] = vector_by_edge(json.loads(body))
        except (ValueError, UnusableAnswer) as exc:
            raise Refused(f"Prometheus at {url} answered the {figure} query unusably: {exc}") from None
    return traffic_from_prometheus(vectors["rps"], vectors["errors"], vectors["p99"], window)


def metrics_traffic(urls: Sequence[str], window: float | None) -> dict[EdgeKey, Traffic]:
    targets = [_metrics_url(u) for u in urls]
    before = None
    if window:
        before = _scrape(targets)
        time.sleep(window)
    return traffic_from_counts(_scrape(targets), before, window)


def _scrape(targets: Sequence[str]) -> EdgeCounts:
    texts = []
    for target in targets:
        body = _get(target, AgentUnreachable, "the agent")
        try:
            texts.append(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise Refused(f"{target} answered something that is not a text exposition (not UTF-8)") from None
    try:
        return edge_counts(texts)
    except UnusableAnswer as exc:
        raise Refused(f"one of {', '.join(targets)} answered unusably: {exc}") from None


def _metrics_url(url: str) -> str:
    """An admin API's address, or its /metrics URL itself."""
    checked = _http_url(url, "--metrics").rstrip("/")
    return checked if checked.endswith("/metrics") else f"{checked}/metrics"


def _http_url(url: str, option: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Refused(f"{option} must be an http:// or https:// URL, got {url!r}")
    return url


def _get(url: str, unreachable: type[BackendUnavailable], who: str, *, accept_4xx: bool = False) -> bytes:
    """One GET; the body, bounded. Prometheus answers a bad query 400 with a JSON error, which
    the caller reads (`accept_4xx`)."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:  # noqa: S310 - scheme checked by _http_url
            body: bytes = resp.read(_MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        if accept_4xx and 400 <= exc.code < 500:
            return exc.read(_MAX_BODY)
        raise Refused(f"{who} at {url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise unreachable(f"cannot reach {who} at {url}: {reason}") from None
    if len(body) > _MAX_BODY:
        raise Refused(f"{who} at {url} answered more than {_MAX_BODY} bytes")
    return body


def draw_svg(dot_source: str) -> str:
    dot = shutil.which("dot")
    if dot is None:  # checked before any request too; PATH can change in between
        raise Refused("--format svg needs Graphviz's `dot` on PATH (Debian: apt install graphviz)")
    try:
        proc = subprocess.run([dot, "-Tsvg"], input=dot_source, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Refused(f"Graphviz's dot failed to run: {exc}") from None
    if proc.returncode != 0:
        raise Refused(f"Graphviz's dot refused the graph: {proc.stderr.strip()[:500]}")
    return proc.stdout
