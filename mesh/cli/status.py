"""`meshctl status`: what the local agent is doing, from its admin API.

Fields this version does not know (the agent grows faster than the CLI) are shown too, as
generic sections, rather than dropped.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from mesh.cli.admin_api import fetch_status
from mesh.cli.errors import NEGATIVE, OK
from mesh.cli.options import output_of
from mesh.cli.output import dump, sections, table
from mesh.cli.relative_time import relative

_KNOWN = {
    "node",
    "datacenter",
    "trust_domain",
    "ready",
    "not_ready_reasons",
    "warnings",
    "fail_static",
    "restart_required",
    "services",
    "endpoints",
    "endpoint_counts",
    "intentions",
    "snapshot_version",
    "config_versions",
    "errors",
}
_ENDPOINT_COLUMNS = ("address", "port", "node", "instance", "health")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help="services, upstreams, endpoints, certificates, config versions, errors",
        description="Show what the local agent is doing. Exit status 1 when it is not ready.",
    )
    p.add_argument(
        "--service", action="append", default=[], metavar="NAME", help="only this local service (repeatable)"
    )
    p.add_argument(
        "--upstream", action="append", default=[], metavar="NAME", help="only this destination's endpoints (repeatable)"
    )
    p.add_argument(
        "--limit",
        type=_count,
        metavar="N",
        help="at most N endpoints per destination (0: counts only, for large hosts)",
    )
    p.set_defaults(run=run)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def status_query(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The admin API's query for these options (mesh/admin/status_query.py)."""
    query = [("service", s) for s in getattr(args, "service", None) or ()]
    query += [("upstream", u) for u in getattr(args, "upstream", None) or ()]
    limit = getattr(args, "limit", None)
    if limit is not None:
        query.append(("limit", str(limit)))
    return query


def only_upstreams(doc: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The upstream rows of the destinations asked for: the agent sent no endpoints for the others,
    and a row saying "0 healthy" for them would be wrong."""
    services = [
        {**s, "upstreams": [u for u in s.get("upstreams") or () if u.get("destination") in names]}
        for s in doc.get("services") or ()
        if isinstance(s, Mapping)
    ]
    return {**doc, "services": services}


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc = fetch_status(args.admin, status_query(args))
    if getattr(args, "upstream", None):
        doc = only_upstreams(doc, set(args.upstream))
    fmt = output_of(args)
    if fmt == "table":
        out.write(render_status(doc, time.time()) + "\n")
    else:
        out.write(dump(doc, fmt) + "\n")
    return OK if doc.get("ready") else NEGATIVE


def render_status(doc: Mapping[str, Any], now: float) -> str:
    parts: list[str] = [_headline(doc), _restart_required(doc.get("restart_required") or ())]
    services = [s for s in doc.get("services") or () if isinstance(s, Mapping)]
    endpoints: Mapping[str, Any] = doc.get("endpoints") or {}
    parts.append(_services(services, now))
    counts: Mapping[str, Any] = doc.get("endpoint_counts") or {}
    parts.append(_upstreams(services, endpoints, counts))
    parts.append(_endpoints(endpoints, counts))
    summary = [f"intentions {doc['intentions']}"] if "intentions" in doc else []
    if "snapshot_version" in doc:
        summary.append(f"snapshot version {doc['snapshot_version']}")
    parts.append("  ".join(summary))
    versions: Mapping[str, Any] = doc.get("config_versions") or {}
    if versions:
        parts.append(table(("CONFIG SOURCE", "INDEX"), sorted(versions.items())))
    errors: Mapping[str, Any] = doc.get("errors") or {}
    parts.append(_errors(errors))
    for name in sorted(set(doc) - _KNOWN):
        parts.append(generic_section(name, doc[name]))
    return sections(parts)


def _headline(doc: Mapping[str, Any]) -> str:
    """Who and whether it serves: readiness first, then what degrades it while it still serves
    (fail-static: Consul out of reach or state restored from state_dir, the last good data in force)."""
    ready = "ready" if doc.get("ready") else "NOT READY"
    if doc.get("fail_static"):
        ready += ", FAIL-STATIC (serving the last good state)"
    lines = [
        f"node {doc.get('node', '?')}  datacenter {doc.get('datacenter', '?')}  "
        f"trust domain {doc.get('trust_domain', '?')}  {ready}"
    ]
    lines += [f"  not ready: {r}" for r in doc.get("not_ready_reasons") or ()]
    lines += [f"  warning: {w}" for w in doc.get("warnings") or ()]
    return "\n".join(lines)


def _restart_required(settings: Sequence[Any]) -> str:
    """Settings changed in the config file that a reload cannot apply: the running values stay."""
    if not settings:
        return ""
    return "RESTART REQUIRED: changed in the config file, running values kept until a restart\n" + "\n".join(
        f"  {setting}" for setting in settings
    )


def _errors(errors: Mapping[str, Any]) -> str:
    """One entry per source; messages can span lines (a rejected document lists every problem)."""
    if not errors:
        return "no errors"
    lines = ["LAST ERRORS"]
    for source, message in sorted(errors.items()):
        first, *rest = str(message).splitlines() or [""]
        lines.append(f"{source}: {first}")
        lines += [f"    {line.strip()}" for line in rest]
    return "\n".join(lines)


def _services(services: Sequence[Mapping[str, Any]], now: float) -> str:
    if not services:
        return "no local services"
    extra = _extra_keys(services, {"name", "id", "protocol", "local", "certificate", "upstreams"})
    rows = []
    for s in services:
        cert = s.get("certificate") or {}
        expiry = relative(float(cert["not_after"]), now) if isinstance(cert.get("not_after"), int | float) else None
        rows.append(
            [s.get("name"), s.get("id"), s.get("protocol"), s.get("local"), cert.get("serial"), expiry]
            + [s.get(k) for k in extra]
        )
    headers = ["SERVICE", "ID", "PROTOCOL", "LOCAL APP", "CERT SERIAL", "CERT EXPIRES", *map(str.upper, extra)]
    return table(headers, rows)


def _not_shown(key: str, shown: int, counts: Mapping[str, Any]) -> int:
    """Endpoints of `key` the agent left out of a limited answer (`--limit`); 0 for older agents."""
    total = counts.get(key)
    return total - shown if isinstance(total, int) and total > shown else 0


def _upstreams(services: Sequence[Mapping[str, Any]], endpoints: Mapping[str, Any], counts: Mapping[str, Any]) -> str:
    rows = []
    for s in services:
        for u in s.get("upstreams") or ():
            key = f"{u.get('destination')}@{u.get('datacenter')}"
            eps = [e for e in endpoints.get(key) or () if isinstance(e, Mapping)]
            ejected = sum(1 for e in eps if is_ejected(e))
            count = f"{len(eps) - ejected} healthy" + (f", {ejected} ejected" if ejected else "")
            hidden = _not_shown(key, len(eps), counts)
            if hidden:
                count += f" ({hidden} more not shown)"
            rows.append([s.get("name"), u.get("destination"), u.get("datacenter"), u.get("bind"), count])
    if not rows:
        return ""
    return table(("SERVICE", "UPSTREAM", "DATACENTER", "BIND", "ENDPOINTS"), rows)


def is_ejected(endpoint: Mapping[str, Any]) -> bool:
    """Outlier detection's verdict, when the agent reports one (older agents do not)."""
    return bool(endpoint.get("ejected")) or endpoint.get("health") == "ejected"


def _endpoints(endpoints: Mapping[str, Any], counts: Mapping[str, Any]) -> str:
    all_eps = [e for eps in endpoints.values() for e in eps or () if isinstance(e, Mapping)]
    hidden = sum(_not_shown(key, len(eps or ()), counts) for key, eps in endpoints.items())
    note = f"\n{hidden} more endpoints not shown (--limit)" if hidden else ""
    if not all_eps:
        return ("no endpoints shown" if hidden else "no endpoints") + note
    extra = _extra_keys(all_eps, set(_ENDPOINT_COLUMNS))
    rows = [
        [key, *(e.get(c) for c in _ENDPOINT_COLUMNS), *(e.get(k) for k in extra)]
        for key, eps in sorted(endpoints.items())
        for e in eps or ()
        if isinstance(e, Mapping)
    ]
    return table(["DESTINATION", *map(str.upper, _ENDPOINT_COLUMNS), *map(str.upper, extra)], rows) + note


def _extra_keys(rows: Sequence[Mapping[str, Any]], known: set[str]) -> list[str]:
    return sorted({k for row in rows for k in row} - known)


def generic_section(name: str, value: Any) -> str:
    """A field this version has no layout for: a table when it is shaped like one, else its value."""
    title = name.upper().replace("_", " ")
    if isinstance(value, Mapping) and value and all(not isinstance(v, Mapping | list) for v in value.values()):
        return table((title, "VALUE"), sorted(value.items()))
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        columns = sorted({k for v in value for k in v})
        return f"{title}\n" + table([c.upper() for c in columns], [[v.get(c) for c in columns] for v in value])
    if isinstance(value, Mapping) and value and all(isinstance(v, list) for v in value.values()):
        rows = [[k, item] for k, items in sorted(value.items()) for item in items]
        return table((title, "ENTRY"), rows)
    return f"{title}\n" + "\n".join(f"  {line}" for line in dump(value, "json").splitlines())
