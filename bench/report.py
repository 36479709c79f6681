"""Rows of measurements, the ours/Envoy ratios, and how both are shown and stored. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.wrk import WrkResult

# Rows of one (body, connections) case appear together, mesh next to Envoy in the same mode.
_SCENARIO_ORDER = {
    ("direct", "-"): 0,
    ("mesh", "L4"): 1,
    ("mesh-envoy", "L4"): 2,
    ("envoy", "L4"): 3,
    ("mesh", "L7"): 4,
    ("mesh-envoy", "L7"): 5,
    ("envoy", "L7"): 6,
}
# Our stacks, each compared with the hand-configured Envoy pair: the builtin plane, and the mesh
# with `data_plane: envoy` (the agents driving an Envoy each).
OURS = ("mesh", "mesh-envoy")
_COLUMNS = (
    "scenario",
    "body",
    "conns",
    "RPS",
    "p50",
    "p99",
    "errors",
    "CPU/request",
    "proxy RSS",
    "RPS ours/Envoy",
    "p99 ours/Envoy",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario under one load: measured (`result`), or not, with the reason in `unavailable`."""

    scenario: str  # direct | mesh | mesh-envoy | envoy
    mode: str  # "-" for direct, else L4 | L7
    body: str
    connections: int
    result: WrkResult | None = None
    rss_kib: tuple[int, ...] = ()  # each proxy process at the end of the run (two hops: two entries)
    cpu_s: tuple[float, ...] = ()  # each proxy process's CPU seconds during the measured run, hop by hop
    unavailable: str = ""
    # CPU seconds of processes beside the proxies in the same run: with `mesh-envoy`, the two agents
    # (control plane, and every access log line their Envoy writes goes through them).
    side_cpu_s: tuple[float, ...] = ()
    streams: int = 1  # HTTP/2 rows: concurrent requests per connection (h2load -m)
    note: str = ""  # what carried the traffic, when the label alone does not say (HTTP/2 rows)
    rounds: int = 1  # how many rounds of this case were measured; this row is the median one

    @property
    def cpu_us_per_request(self) -> tuple[float, ...]:
        """Each hop's CPU microseconds per completed request; empty when there is nothing to divide."""
        if self.result is None or self.result.requests <= 0:
            return ()
        return tuple(seconds * 1e6 / self.result.requests for seconds in self.cpu_s)

    @property
    def side_cpu_us_per_request(self) -> float | None:
        """The side processes' CPU microseconds per completed request, together; None without figures."""
        if self.result is None or self.result.requests <= 0 or not self.side_cpu_s:
            return None
        return sum(self.side_cpu_s) * 1e6 / self.result.requests

    @property
    def label(self) -> str:
        if self.scenario == "direct":
            return "direct nginx"
        if self.scenario == "mesh-envoy":
            return f"mesh on envoy {self.mode}"
        return f"{self.scenario} {self.mode}"


@dataclass(frozen=True, slots=True)
class Ratio:
    """Ours divided by Envoy's: RPS above 1 is better for us, p99 and CPU per request above 1 are worse."""

    rps: float
    p99: float
    cpu: float | None = None  # both hops' CPU per request; None unless both sides have every hop's figure


def ratio(ours: Row, envoy: Row) -> Ratio | None:
    if ours.result is None or envoy.result is None or envoy.result.rps == 0 or envoy.result.p99_ms == 0:
        return None
    mine, theirs = ours.cpu_us_per_request, envoy.cpu_us_per_request
    cpu = sum(mine) / sum(theirs) if mine and len(mine) == len(theirs) and sum(theirs) > 0 else None
    return Ratio(rps=ours.result.rps / envoy.result.rps, p99=ours.result.p99_ms / envoy.result.p99_ms, cpu=cpu)


def ratios(rows: Iterable[Row], ours: str = "mesh") -> dict[tuple[str, str, int], Ratio]:
    """`ours` (a scenario of OURS) over the Envoy pair, per (mode, body, connections), where both were measured."""
    by_key = {(r.scenario, r.mode, r.body, r.connections): r for r in rows}
    out: dict[tuple[str, str, int], Ratio] = {}
    for (scenario, mode, body, conns), row in by_key.items():
        envoy = by_key.get(("envoy", mode, body, conns))
        if scenario == ours and envoy is not None and (r := ratio(row, envoy)) is not None:
            out[(mode, body, conns)] = r
    return out


def _all_ratios(rows: Sequence[Row]) -> dict[tuple[str, str, str, int], Ratio]:
    """Every one of OURS over the Envoy pair, keyed (scenario, mode, body, connections)."""
    return {(ours, *key): r for ours in OURS for key, r in ratios(rows, ours).items()}


def median_rounds(rows: Sequence[Row]) -> list[Row]:
    """One row per (scenario, mode, body, connections, streams): with several rounds of a case, the
    round of median RPS (the lower middle one for an even count), in the order rows first appeared.
    A shared machine's bursts land on one round; the median keeps them out of the ratios."""
    groups: dict[tuple[str, str, str, int, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.scenario, r.mode, r.body, r.connections, r.streams), []).append(r)
    out = []
    for group in groups.values():
        measured = sorted((r for r in group if r.result is not None), key=lambda r: r.result.rps if r.result else 0.0)
        chosen = measured[(len(measured) - 1) // 2] if measured else group[0]
        out.append(replace(chosen, rounds=len(group)) if len(group) > 1 else chosen)
    return out


def _ordered(rows: Sequence[Row]) -> list[Row]:
    bodies = list(dict.fromkeys(r.body for r in rows))
    return sorted(
        rows, key=lambda r: (bodies.index(r.body), r.connections, _SCENARIO_ORDER.get((r.scenario, r.mode), 99))
    )


def format_latency(ms: float) -> str:
    return f"{ms * 1000:.0f} us" if ms < 1 else f"{ms:.2f} ms"


def format_rss(rss_kib: Sequence[int]) -> str:
    if not rss_kib:
        return ""
    total = f"{sum(rss_kib) / 1024:.1f} MiB"
    if len(rss_kib) == 1:
        return total
    return f"{total} ({'+'.join(f'{v / 1024:.1f}' for v in rss_kib)})"


def format_cpu(us_per_request: Sequence[float]) -> str:
    """Total CPU per request, then each hop's share, client side first: `412 us (210+202)`."""
    if not us_per_request:
        return ""
    total = f"{sum(us_per_request):,.0f} us"
    if len(us_per_request) == 1:
        return total
    return f"{total} ({'+'.join(f'{v:.0f}' for v in us_per_request)})"


def _side(us: float | None) -> str:
    return "" if us is None else f"; agents {us:,.0f} us"


def _cells(row: Row, found: Ratio | None) -> tuple[str, ...]:
    head = (row.label, row.body, str(row.connections))
    if row.result is None:
        missing = f"n/a ({row.unavailable})" if row.unavailable else "n/a"
        return (*head, missing, *("" for _ in _COLUMNS[len(head) + 1 :]))
    res = row.result
    return (
        *head,
        f"{res.rps:,.0f}",
        format_latency(res.p50_ms),
        format_latency(res.p99_ms),
        str(res.errors),
        format_cpu(row.cpu_us_per_request) + _side(row.side_cpu_us_per_request),
        format_rss(row.rss_kib),
        f"{found.rps:.2f}x" if found else "",
        f"{found.p99:.2f}x" if found else "",
    )


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/benchmarks.md); the HTTP/2
    rows are left to `render_h2_table`."""
    rows = [r for r in rows if r.mode not in H2_MODES]
    found = _all_ratios(rows)
    body = [_cells(r, found.get((r.scenario, r.mode, r.body, r.connections))) for r in _ordered(rows)]
    return _markdown(_COLUMNS, body)


# -- the HTTP/2 rows: h2load, the mesh on its Envoy plane against nginx's h2c port directly -------

H2_MODES = ("H2C", "GRPC")
_H2_COLUMNS = (
    "scenario",
    "request",
    "conns x streams",
    "RPS",
    "p50",
    "p99",
    "errors",
    "CPU/request",
    "proxy RSS",
    "RPS vs direct",
    "p99 vs direct",
    "path",
)


def h2_ratios(rows: Iterable[Row]) -> dict[tuple[str, str, int, int], Ratio]:
    """The mesh-envoy HTTP/2 rows over the direct ones, per (mode, body, connections, streams)."""
    h2 = [r for r in rows if r.mode in H2_MODES]
    direct = {(r.mode, r.body, r.connections, r.streams): r for r in h2 if r.scenario == "direct"}
    out: dict[tuple[str, str, int, int], Ratio] = {}
    for r in h2:
        key = (r.mode, r.body, r.connections, r.streams)
        if r.scenario != "direct" and key in direct and (found := ratio(r, direct[key])) is not None:
            out[key] = Ratio(found.rps, found.p99)  # no CPU ratio: direct has no proxy
    return out


def render_h2_table(rows: Sequence[Row]) -> str:
    """The HTTP/2 rows as their own Markdown table, direct first in each case; empty when none ran."""
    h2 = [r for r in rows if r.mode in H2_MODES]
    if not h2:
        return ""
    found = h2_ratios(h2)
    modes, bodies = list(H2_MODES), list(dict.fromkeys(r.body for r in h2))
    ordered = sorted(
        h2, key=lambda r: (modes.index(r.mode), bodies.index(r.body), r.connections, r.streams, r.scenario != "direct")
    )
    body = []
    for r in ordered:
        cells = _cells(r, None)[:-2]
        shape = f"{r.connections}x{r.streams}"
        ratio_ = found.get((r.mode, r.body, r.connections, r.streams)) if r.scenario != "direct" else None
        name = f"direct nginx {r.mode.lower()}" if r.scenario == "direct" else f"mesh on envoy {r.mode.lower()}"
        body.append(
            (
                name,
                r.body,
                shape,
                *cells[3:],
                f"{ratio_.rps:.2f}x" if ratio_ else "",
                f"{ratio_.p99:.2f}x" if ratio_ else "",
                r.note,
            )
        )
    return _markdown(_H2_COLUMNS, body)


def _markdown(columns: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(line[i]) for line in [columns, *body]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), rule, *(line(cells) for cells in body)])


def to_json(rows: Sequence[Row], meta: dict[str, Any], scale: Sequence[ScaleRow] = ()) -> dict[str, Any]:
    """The run as a JSON document: settings and versions in `meta`, one entry per row, and the
    scale case (when run) under `scale`."""
    found, h2_found = _all_ratios(rows), h2_ratios(rows)
    entries = []
    for r in _ordered(rows):
        entry: dict[str, Any] = {
            "scenario": r.scenario,
            "mode": r.mode,
            "body": r.body,
            "connections": r.connections,
            "result": asdict(r.result) if r.result else None,
            "rss_kib": list(r.rss_kib),
            "cpu_s": list(r.cpu_s),
            # Hop by hop (client side first): process CPU over the measured run / requests completed.
            "cpu_us_per_request": list(r.cpu_us_per_request),
            "unavailable": r.unavailable or None,
            "rounds": r.rounds,
        }
        if r.mode in H2_MODES:
            entry["streams"] = r.streams
            entry["path"] = r.note or None
            if h2 := h2_found.get((r.mode, r.body, r.connections, r.streams)):
                entry["vs_direct"] = {"rps_ratio": h2.rps, "p99_ratio": h2.p99}
        if r.side_cpu_s:
            entry["side_cpu_s"] = list(r.side_cpu_s)
            entry["side_cpu_us_per_request"] = r.side_cpu_us_per_request
        if ours := found.get((r.scenario, r.mode, r.body, r.connections)):
            entry["vs_envoy"] = {"rps_ratio": ours.rps, "p99_ratio": ours.p99, "cpu_ratio": ours.cpu}
        entries.append(entry)
    document: dict[str, Any] = {"meta": meta, "rows": entries}
    if scale:
        document["scale"] = scale_json(scale)
    return document


# -- the scale case: memory at rest, one proxy for a whole host -------------------------------

_SCALE_COLUMNS = ("scale case", "proxy", "listeners (in+up)", "endpoints", "RSS", "RSS ours/Envoy")


@dataclass(frozen=True, slots=True)
class ScaleRow:
    """One proxy holding the scale case's configuration, idle: its RSS, or why it was not measured."""

    scenario: str  # mesh | envoy
    case: str
    inbound_listeners: int = 0  # the agent has one for every local service, Envoy one per service
    upstream_listeners: int = 0
    endpoints: int = 0  # remote endpoints the proxy reported in force when RSS was read
    rss_kib: int | None = None
    unavailable: str = ""
    parts_kib: tuple[int, ...] = ()  # mesh-envoy: the agent's RSS and its Envoy's, which rss_kib adds up

    @property
    def label(self) -> str:
        labels = {"mesh": "mesh agent", "mesh-envoy": "mesh agent + its envoy", "envoy": "envoy (one)"}
        return labels.get(self.scenario, self.scenario)


def scale_ratio(rows: Sequence[ScaleRow], ours_scenario: str = "mesh") -> float | None:
    """Our host's RSS over one Envoy's, when both were read: at or below 1 meets the target."""
    ours = next((r.rss_kib for r in rows if r.scenario == ours_scenario), None)
    envoy = next((r.rss_kib for r in rows if r.scenario == "envoy"), None)
    return ours / envoy if ours is not None and envoy else None


def render_scale_table(rows: Sequence[ScaleRow]) -> str:
    """The scale case as its own small Markdown table, ours first; empty when it was not run."""
    if not rows:
        return ""
    order = {"mesh": 0, "mesh-envoy": 1}
    body: list[tuple[str, ...]] = []
    for r in sorted(rows, key=lambda r: order.get(r.scenario, 2)):
        if r.rss_kib is None:
            body.append((r.case, r.label, f"n/a ({r.unavailable})" if r.unavailable else "n/a", "", "", ""))
            continue
        found = scale_ratio(rows, r.scenario) if r.scenario != "envoy" else None
        shown = f"{found:.2f}x" if found is not None else ""
        body.append(
            (
                r.case,
                r.label,
                f"{r.inbound_listeners}+{r.upstream_listeners}",
                f"{r.endpoints:,}",
                format_rss(r.parts_kib or [r.rss_kib]),
                shown,
            )
        )
    return _markdown(_SCALE_COLUMNS, body)


def scale_json(rows: Sequence[ScaleRow]) -> dict[str, Any]:
    document: dict[str, Any] = {"rows": [asdict(r) for r in rows], "rss_ratio": scale_ratio(rows)}
    if any(r.scenario == "mesh-envoy" for r in rows):
        document["mesh_envoy_rss_ratio"] = scale_ratio(rows, "mesh-envoy")
    return document
