"""`meshctl intention check SOURCE DEST`: would the destination's agent admit this caller?

Intentions are read from `/v1/connect/intentions` and turned into a table by the agent's own
snapshot builder, then decided by the agent's own `IntentionTable`: the same code, so the same
answer (DESIGN.md section 5). Like the inbound proxy, a connection is decided first; when the
governing intention has L7 permissions and a request is given, the request is decided next.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from mesh.cli.errors import NEGATIVE, OK, Refused
from mesh.cli.options import consul_for, output_of
from mesh.cli.output import dump, sections, table
from mesh.cli.request_options import add_request_arguments, describes_request, parse_headers
from mesh.consul.watch import UpdateEvent
from mesh.intentions import Intention, IntentionTable, RequestFacts
from mesh.intentions.decide import permission_matches
from mesh.intentions.model import Permission
from mesh.snapshot.builder import INTENTIONS, SnapshotBuilder


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser(
        "check",
        parents=[common],
        help="the decision for SOURCE calling DEST, and the intention (and permission) that decided it",
        description="Evaluate Consul's intentions for SOURCE => DEST exactly as the destination's agent does. "
        "Exit status 0 when allowed, 1 when denied.",
    )
    check.add_argument("source", metavar="SOURCE", help="calling service")
    check.add_argument("destination", metavar="DEST", help="called service")
    add_request_arguments(check)
    check.add_argument(
        "--default",
        choices=("allow", "deny"),
        default="deny",
        help="the agents' intentions.default: the decision when no intention matches (%(default)s)",
    )
    check.add_argument(
        "--protocol",
        choices=("http", "tcp"),
        help="DEST's protocol (default: as its instances are registered in Consul)",
    )
    check.set_defaults(run=run)


def intention_table(raw: list[dict[str, Any]]) -> IntentionTable:
    """The table the agents build from this answer of Consul; Refused when they would refuse it."""
    snapshot = SnapshotBuilder("-").apply(UpdateEvent(INTENTIONS, raw, None, 1))
    if INTENTIONS in snapshot.errors:
        raise Refused(f"the agents refuse Consul's current intentions: {snapshot.errors[INTENTIONS]}")
    return snapshot.intentions


def registered_protocol(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """Protocols DEST's instances registered (each agent registers its local service's protocol)."""
    found = set()
    for entry in entries:
        proxy = (entry.get("Service") or {}).get("Proxy") or {}
        found.add(str((proxy.get("Config") or {}).get("protocol", "tcp")))
    return found


def evaluate(
    table_: IntentionTable,
    source: str,
    destination: str,
    *,
    http: bool,
    request: RequestFacts | None,
    default_allow: bool,
) -> dict[str, Any]:
    """The verdict as the inbound proxy reaches it: per connection, then per request when needed."""
    decision = table_.decide_connection(source, destination, default_allow=default_allow, http=http)
    level = "connection"
    permission: dict[str, Any] | None = None
    if decision.allowed and decision.per_request and request is not None:
        decision = table_.decide_request(source, destination, request, default_allow=default_allow)
        level = "request"
        if decision.intention is not None and decision.intention.is_l7:
            permission = _deciding_permission(decision.intention, request)
    return {
        "source": source,
        "destination": destination,
        "protocol": "http" if http else "tcp",
        "level": level,
        "request": None
        if request is None
        else {"method": request.method, "path": request.path, "headers": dict(request.headers)},
        "allowed": decision.allowed,
        "decision": "allow" if decision.allowed else "deny",
        "checked_per_request": decision.per_request,
        "reason": decision.reason,
        "default": "allow" if default_allow else "deny",
        "intention": None if decision.intention is None else intention_fields(decision.intention),
        "permission": permission,
        "matching": [intention_fields(i) for i in table_.matching(source, destination)],
    }


def _deciding_permission(intention: Intention, request: RequestFacts) -> dict[str, Any] | None:
    # The same first-match rule as IntentionTable.decide_request, to name the permission it used.
    for index, perm in enumerate(intention.permissions):
        if permission_matches(perm, request):
            return {"index": index, **permission_fields(perm)}
    return None


def intention_fields(i: Intention) -> dict[str, Any]:
    return {
        "source": i.source,
        "destination": i.destination,
        "action": i.action,
        "precedence": i.precedence,
        "permissions": [permission_fields(p) for p in i.permissions],
        "description": i.description,
        # Set when the agents cannot read it: they deny every request it governs.
        "error": i.error or None,
    }


def permission_fields(p: Permission) -> dict[str, Any]:
    http: dict[str, Any] = {}
    if p.http is not None:
        for name, value in (
            ("PathExact", p.http.path_exact),
            ("PathPrefix", p.http.path_prefix),
            ("PathRegex", p.http.path_regex.pattern if p.http.path_regex else None),
        ):
            if value is not None:
                http[name] = value
        if p.http.methods:
            http["Methods"] = sorted(p.http.methods)
        if p.http.headers:
            http["Header"] = [h.name for h in p.http.headers]
    out: dict[str, Any] = {"action": p.action, "http": http}
    if p.unsupported:
        out["unsupported"] = p.unsupported
    return out


def render(verdict: Mapping[str, Any], notes: Sequence[str]) -> str:
    answer = verdict["decision"].upper()
    if verdict["checked_per_request"]:
        answer += " to connect; each request is then checked against the permissions below"
    request = verdict["request"]
    what = f"{request['method']} {request['path']}" if request else "a connection"
    head = [
        f"{answer}",
        f"  {verdict['source']} => {verdict['destination']} ({verdict['protocol']}), {what}",
        f"  reason: {verdict['reason']}",
    ]
    deciding = verdict["intention"]
    if deciding and deciding["description"]:
        head.append(f"  description: {deciding['description']}")
    if verdict["permission"] is not None:
        head.append(f"  permission[{verdict['permission']['index']}]: {_permission_text(verdict['permission'])}")
    if verdict["checked_per_request"] and deciding:
        head += [f"  permission[{n}]: {_permission_text(p)}" for n, p in enumerate(deciding["permissions"])]
    head += [f"  note: {n}" for n in notes]
    matching = [[m["source"], m["destination"], _action_text(m), m["precedence"]] for m in verdict["matching"]]
    rows = table(("SOURCE", "DESTINATION", "ACTION", "PRECEDENCE"), matching) if matching else ""
    return sections(
        ["\n".join(head), "intentions that match, in evaluation order (the first decides):\n" + rows if rows else ""]
    )


def _action_text(m: Mapping[str, Any]) -> str:
    if m["error"]:
        return "unreadable (denies)"
    return str(m["action"] or f"L7 ({len(m['permissions'])} permissions)")


def _permission_text(p: Mapping[str, Any]) -> str:
    clauses = ", ".join(f"{k}={v}" for k, v in p["http"].items()) or "any request"
    extra = f" (unsupported: {p['unsupported']})" if p.get("unsupported") else ""
    return f"{p['action']} {clauses}{extra}"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    headers = parse_headers(args.header)
    asked_request = describes_request(args)
    api = consul_for(args)
    table_ = intention_table(api.intentions())
    notes: list[str] = []
    protocol = args.protocol
    if protocol is None:
        registered = registered_protocol(api.connect_health(args.destination))
        if len(registered) > 1:
            raise Refused(
                f"instances of {args.destination} are registered with different protocols "
                f"({', '.join(sorted(registered))}); say which with --protocol"
            )
        if registered:
            protocol = registered.pop()
        else:
            protocol = "http" if asked_request else "tcp"
            notes.append(f"no instance of {args.destination} is registered; assumed {protocol} (see --protocol)")
    http = protocol == "http"
    request = None
    if asked_request and http:
        request = RequestFacts(method=(args.method or "GET").upper(), path=args.path or "/", headers=headers)
    elif asked_request:
        notes.append(f"{args.destination} is tcp: the request was ignored, access is decided per connection")
    verdict = evaluate(
        table_, args.source, args.destination, http=http, request=request, default_allow=args.default == "allow"
    )
    fmt = output_of(args)
    out.write((render(verdict, notes) if fmt == "table" else dump({**verdict, "notes": notes}, fmt)) + "\n")
    return OK if verdict["allowed"] else NEGATIVE
