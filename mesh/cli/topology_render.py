"""How `meshctl topology` prints the graph (pure): an edge table for people, Graphviz DOT for
drawing. Refused edges are marked in both: DENIED in the table, dashed red in the drawing."""

from __future__ import annotations

from mesh.cli.output import sections, table
from mesh.cli.topology_graph import Edge, Topology, Traffic

_VERDICT = {"allow": "allowed", "deny": "DENIED", "per-request": "allowed, L7 per request"}


def render_text(topology: Topology) -> str:
    head = f"intentions.default {topology.default}; " + (
        f"traffic from {topology.traffic_from}"
        if topology.traffic_from
        else "no traffic asked for (see --prometheus, --metrics)"
    )
    if not topology.edges:
        body = "no edges: no registered service declares an upstream, and no traffic was seen"
    else:
        rows = [
            [
                e.source,
                "=>",
                e.destination + (f" ({e.datacenter})" if e.datacenter else ""),
                _VERDICT[e.verdict],
                *_traffic_cells(e.traffic, topology.traffic_from is not None),
                _note(e),
            ]
            for e in topology.edges
        ]
        body = table(("SOURCE", "", "DESTINATION", "INTENTIONS", "RPS", "ERRORS", "P99", "NOTE"), rows)
    alone = topology.unconnected()
    tail = f"services with no edge: {', '.join(alone)}" if alone else ""
    return sections([head, body, tail])


def _traffic_cells(traffic: Traffic | None, asked: bool) -> list[str | None]:
    if traffic is None:
        return ["0" if asked else None, None, None]
    rps = f"{traffic.rps:.2f}" if traffic.rps is not None else f"{traffic.requests:.0f} req"
    ratio = traffic.error_ratio
    return [rps, None if ratio is None else f"{ratio:.1%}", format_latency(traffic.p99)]


def _note(e: Edge) -> str:
    notes = []
    if not e.declared:
        notes.append("observed, not declared as an upstream")
    if e.verdict != "allow":
        notes.append(e.reason)
    return "; ".join(notes)


def format_latency(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def render_dot(topology: Topology) -> str:
    """A `digraph`; names are quoted and escaped, so any service name Consul holds draws."""
    lines = [
        "digraph mesh {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    declared = {s.name for s in topology.services}
    names = sorted(declared | {e.source for e in topology.edges} | {e.destination for e in topology.edges})
    for name in names:
        service = next((s for s in topology.services if s.name == name), None)
        label = name if service is None else f"{name}\n{service.protocol}, {service.instances} instance(s)"
        style = "" if service is not None else ", style=dashed"
        lines.append(f"  {_quote(name)} [label={_quote(label)}{style}];")
    for e in topology.edges:
        attrs = [f"label={_quote(_edge_label(e, topology.traffic_from is not None))}"]
        if e.refused:
            attrs += ["color=red", "fontcolor=red", "style=dashed"]
        elif not e.declared:
            attrs.append("style=dotted")
        lines.append(f"  {_quote(e.source)} -> {_quote(e.destination)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edge_label(e: Edge, asked: bool) -> str:
    parts = ["DENIED"] if e.refused else ["L7 per request"] if e.verdict == "per-request" else []
    t = e.traffic
    if t is not None:
        parts.append(f"{t.rps:.2f} rps" if t.rps is not None else f"{t.requests:.0f} req")
        if t.error_ratio is not None:
            parts.append(f"{t.error_ratio:.1%} errors")
        if (p99 := format_latency(t.p99)) is not None:
            parts.append(f"p99 {p99}")
    elif asked:
        parts.append("no traffic")
    return "\n".join(parts)


def _quote(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as DOT's centred `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'
