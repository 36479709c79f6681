"""Rows of measurements, the ours/Envoy ratios, and how both are shown and stored. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.wrk import WrkResult

# Rows of one (body, connections) case appear together, mesh next to Envoy in the same mode.
_SCENARIO_ORDER = {("direct", "-"): 0, ("mesh", "L4"): 1, ("envoy", "L4"): 2, ("mesh", "L7"): 3, ("envoy", "L7"): 4}
_COLUMNS = ("scenario", "body", "conns", "RPS", "p50", "p99", "errors", "proxy RSS", "RPS ours/Envoy", "p99 ours/Envoy")


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario under one load: measured (`result`), or not, with the reason in `unavailable`."""

    scenario: str  # direct | mesh | envoy
    mode: str  # "-" for direct, else L4 | L7
    body: str
    connections: int
    result: WrkResult | None = None
    rss_kib: tuple[int, ...] = ()  # each proxy process at the end of the run (two hops: two entries)
    unavailable: str = ""

    @property
    def label(self) -> str:
        return "direct nginx" if self.scenario == "direct" else f"{self.scenario} {self.mode}"


@dataclass(frozen=True, slots=True)
class Ratio:
    """Ours divided by Envoy's: RPS above 1 is better for us, p99 above 1 is worse."""

    rps: float
    p99: float


def ratio(ours: Row, envoy: Row) -> Ratio | None:
    if ours.result is None or envoy.result is None or envoy.result.rps == 0 or envoy.result.p99_ms == 0:
        return None
    return Ratio(rps=ours.result.rps / envoy.result.rps, p99=ours.result.p99_ms / envoy.result.p99_ms)


def ratios(rows: Iterable[Row]) -> dict[tuple[str, str, int], Ratio]:
    """Ours/Envoy per (mode, body, connections), where both were measured."""
    by_key = {(r.scenario, r.mode, r.body, r.connections): r for r in rows}
    out: dict[tuple[str, str, int], Ratio] = {}
    for (scenario, mode, body, conns), row in by_key.items():
        envoy = by_key.get(("envoy", mode, body, conns))
        if scenario == "mesh" and envoy is not None and (r := ratio(row, envoy)) is not None:
            out[(mode, body, conns)] = r
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


def _cells(row: Row, found: Ratio | None) -> tuple[str, ...]:
    head = (row.label, row.body, str(row.connections))
    if row.result is None:
        return (*head, f"n/a ({row.unavailable})" if row.unavailable else "n/a", "", "", "", "", "", "")
    res = row.result
    return (
        *head,
        f"{res.rps:,.0f}",
        format_latency(res.p50_ms),
        format_latency(res.p99_ms),
        str(res.errors),
        format_rss(row.rss_kib),
        f"{found.rps:.2f}x" if found else "",
        f"{found.p99:.2f}x" if found else "",
    )


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/benchmarks.md)."""
    found = ratios(rows)
    body = [
        _cells(r, found.get((r.mode, r.body, r.connections)) if r.scenario == "mesh" else None) for r in _ordered(rows)
    ]
    widths = [max(len(line[i]) for line in [_COLUMNS, *body]) for i in range(len(_COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(_COLUMNS), rule, *(line(cells) for cells in body)])


def to_json(rows: Sequence[Row], meta: dict[str, Any]) -> dict[str, Any]:
    """The run as a JSON document: settings and versions in `meta`, one entry per row."""
    found = ratios(rows)
    entries = []
    for r in _ordered(rows):
        entry: dict[str, Any] = {
            "scenario": r.scenario,
            "mode": r.mode,
            "body": r.body,
            "connections": r.connections,
            "result": asdict(r.result) if r.result else None,
            "rss_kib": list(r.rss_kib),
            "unavailable": r.unavailable or None,
        }
        if r.scenario == "mesh" and (ours := found.get((r.mode, r.body, r.connections))):
            entry["vs_envoy"] = {"rps_ratio": ours.rps, "p99_ratio": ours.p99}
        entries.append(entry)
    return {"meta": meta, "rows": entries}
