"""`meshctl explain SERVICE`: which route, split, subset and endpoint a request would take now.

The documents are today's KV listing run through the agents' own state machine (what an agent
starting now would have in force), the endpoints are Consul's healthy instances
(`/v1/health/connect/<service>`, read as the agents read them), and the routing is
the data plane's own (see route_dry_run.py). The endpoints outlier detection has ejected come
from the agent's `/v1/status` (`--admin`) when it answers: those are the calling host's, so run
explain on that host (an endpoint counts as ejected when any of the agent's local services has
it out). What meshctl cannot see is an older good version the agent keeps for a document
rejected since.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from mesh.cli.admin_api import fetch_status
from mesh.cli.consul_api import ConsulApi
from mesh.cli.errors import NEGATIVE, OK, AgentUnreachable, Refused
from mesh.cli.options import consul_for, output_of
from mesh.cli.output import dump, sections
from mesh.cli.request_options import add_request_arguments, parse_headers
from mesh.cli.route_dry_run import Question, dry_run
from mesh.snapshot.endpoints import Endpoint, endpoints_from_health
from mesh.traffic.state import TrafficState, next_state


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "explain",
        parents=[common],
        help="which route, split, subset and endpoint a request to SERVICE would take now",
        description="Dry-run the router over the documents in KV and the healthy endpoints in Consul. "
        "Exit status 1 when no endpoint would take the request.",
    )
    p.add_argument("service", metavar="SERVICE", help="the upstream service called")
    p.add_argument("--upstream-of", metavar="SOURCE", help="the calling local service (its service-defaults apply)")
    p.add_argument("--datacenter", metavar="DC", help="the upstream's datacenter (default: Consul's)")
    add_request_arguments(p)
    p.set_defaults(run=run)


class _ConsulEndpoints:
    """Healthy endpoints per (service, datacenter), each fetched once per run."""

    def __init__(self, api: ConsulApi) -> None:
        self.api = api
        self._seen: dict[tuple[str, str], tuple[Endpoint, ...]] = {}

    def __call__(self, service: str, datacenter: str) -> Sequence[Endpoint]:
        key = (service, datacenter)
        if key not in self._seen:
            self._seen[key] = endpoints_from_health(self.api.connect_health(service, datacenter), datacenter)
        return self._seen[key]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    headers = tuple(parse_headers(args.header).items())
    api = consul_for(args)
    traffic = next_state(TrafficState(), api.kv_listing(args.prefix), prefix=args.prefix.strip("/"))
    question = Question(
        service=args.service,
        datacenter=args.datacenter or api.datacenter(),
        source=args.upstream_of,
        method=args.method or "GET",
        path_and_query=args.path or "/",
        headers=headers,
    )
    ejected, unknown = agent_ejections(args.admin)
    # A draw like the data plane's (split, random balancing), not a secret.
    answer = dry_run(traffic, question, _ConsulEndpoints(api), random.Random(), ejected=ejected)  # noqa: S311
    answer["ejections"] = {"agent": args.admin, "ejected": sorted(ejected or ()), "unknown": unknown}
    if unknown is not None:
        answer["notes"].insert(0, f"outlier ejections not known ({unknown}): every healthy endpoint taken as usable")
    answer["documents"] = {
        "in_force": traffic.versions(),
        "not_in_force": {key: e.message for key, e in sorted(traffic.errors.items()) if e.outcome != "in_force"},
    }
    fmt = output_of(args)
    out.write((render(answer) if fmt == "table" else dump(answer, fmt)) + "\n")
    endpoints = answer["explain"].get("endpoints") or {}
    return OK if endpoints.get("chosen") else NEGATIVE


def agent_ejections(admin: str) -> tuple[frozenset[str] | None, str | None]:
    """The `Endpoint.key`s the agent at `admin` has ejected now, or (None, why) when it cannot say."""
    try:
        status = fetch_status(admin)
    except (AgentUnreachable, Refused) as exc:
        return None, str(exc)
    endpoints = status.get("endpoints")
    if not isinstance(endpoints, dict):
        return None, f"the agent at {admin} lists no endpoints"
    return frozenset(
        f"{e['address']}:{e['port']}/{e['instance']}"
        for listed in endpoints.values()
        if isinstance(listed, list)
        for e in listed
        if isinstance(e, dict) and e.get("ejected")
    ), None


def render(answer: Mapping[str, Any]) -> str:
    e: Mapping[str, Any] = answer["explain"]
    request = answer["request"]
    asked = f"{request['method']} {request['path']}" if request else "a TCP connection"
    caller = f" from {answer['source']}" if answer["source"] else ""
    lines = [f"{asked} to {answer['service']}@{answer['datacenter']} ({answer['protocol']}){caller}"]
    route = e["route"]
    lines.append(f"route      {route['matched']} ({route['why']})")
    lines += [f"  skipped  Routes[{t['index']}]: {t['reason']}" for t in route["tried"]]
    split = e.get("split")
    if split:
        lines.append(f"split      {_path(split['chosen'])} ({split['weight']:g}%), of:")
        for s in split["splits"]:
            mark = "->" if s["split"] == split["chosen"] else "  "
            lines.append(f"  {mark} {_path(s['split']):<10} {s['weight']:>6g}%  {s['target']}")
    else:
        lines.append("split      none")
    target = e["target"]
    subset = f", subset {target['subset']}" if target["subset"] else ""
    requested = f" (asked for {target['requested']})" if target["requested"] else ""
    lines.append(f"target     {target['service']}{subset}, {target['datacenter'] or answer['datacenter']}{requested}")
    if answer["failed_over_to"]:
        how = "the resolver's failover" if answer["failed_over_by"] == "failover" else "another split"
        lines.append(
            f"failover   taken: {answer['planned_target']} had no usable endpoint, so {how}, {answer['failed_over_to']}"
        )
    elif e["failover"]:
        lines.append(f"failover   if needed: {', '.join(e['failover'])}")
    endpoints = e.get("endpoints") or {}
    members = endpoints.get("in_subset") or []
    lines.append(f"endpoints  {len(members)} healthy in the target" + (":" if members else ""))
    lines += [f"  {_endpoint(m)}" for m in members]
    chosen = endpoints.get("chosen")
    lines.append(f"chosen     {_endpoint(chosen) if chosen else 'none'}, by {e['load_balancer'] or 'round_robin'}")
    if endpoints.get("fallbacks"):
        lines.append(f"  then     {', '.join(_endpoint(f) for f in endpoints['fallbacks'])}")
    if "rewritten_path" in e:
        lines.append(f"rewrite    path becomes {e['rewritten_path']}")
    t, r = e["timeouts"], e["retry"]
    lines.append(f"timeouts   connect {t['connect']:g}s, request {_seconds(t['request'])}, idle {_seconds(t['idle'])}")
    retry_on = ", ".join([*r["retry_on"], *map(str, r["retry_on_status_codes"])]) or "-"
    lines.append(f"retries    {r['max_retries']} (on {retry_on})")
    for extra in ("mirror", "fault"):
        if extra in e:
            lines.append(f"{extra:<10} {e[extra]}")
    notes = [f"note: {n}" for n in answer["notes"]]
    docs = answer.get("documents") or {}
    rejected = [f"not in force: {key}: {message}" for key, message in (docs.get("not_in_force") or {}).items()]
    return sections(["\n".join(lines), "\n".join(notes), "\n".join(rejected)])


def _path(path: Sequence[int]) -> str:
    return "Splits" + "".join(f"[{i}]" for i in path)


def _endpoint(e: Mapping[str, Any]) -> str:
    ejected = ", ejected" if e.get("ejected") else ""
    return f"{e['instance']} on {e['node']} at {e['address']} ({e['health']}{ejected})"


def _seconds(value: float | None) -> str:
    return "default" if value is None else f"{value:g}s"
