"""The estate-scale figures of one case, and the table of every case side by side (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.scale_cases import percentile


@dataclass
class Figures:
    """What one case measured; None where the run did not get that far (see `problem`)."""

    case: str
    title: str
    registered_s: float | None = None  # registering the remote instances in the stand-in
    ready_s: float | None = None  # agent start to /ready 200
    all_endpoints_s: float | None = None  # agent start to every endpoint held
    rss_kib: int | None = None  # after the idle window
    rss_end_kib: int | None = None  # at the end of the case
    idle_s: float = 0.0
    idle_requests: dict[str, int] = field(default_factory=dict)  # at the stand-in, by kind, over idle_s
    agent_idle_cpu_s: float | None = None
    kv_first_s: float | None = None  # the first document, created
    intention_first_s: float | None = None  # the first intention, created
    kv_s: list[float] = field(default_factory=list)
    intention_s: list[float] = field(default_factory=list)
    critical_s: list[float] = field(default_factory=list)
    ready_rest_s: list[float] = field(default_factory=list)  # GET /ready latencies at rest
    ready_flips_s: list[float] = field(default_factory=list)  # ... under endpoint flips
    flips: int = 0
    flip_seconds: float = 0.0
    stable_s: float = 0.0
    watch_errors: float | None = None
    consul_failures: float | None = None
    fail_static_episodes: int | None = None  # from the agent's log
    log_warnings: int | None = None  # warning and error lines in the agent's log
    checks_not_passing: list[str] = field(default_factory=list)
    apply_timeouts: int = 0
    load: tuple[float, float, float] | None = None  # load average at the end of the case
    problem: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50) * 1000:.1f} / {percentile(values, 99) * 1000:.1f} ms"


def _one(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def _rate(f: Figures) -> str:
    if not f.idle_s or not f.idle_requests:
        return "-"
    total = sum(f.idle_requests.values())
    parts = ", ".join(f"{k} {v / f.idle_s:.2f}" for k, v in sorted(f.idle_requests.items()) if v)
    return f"{total / f.idle_s:.2f}/s ({parts})" if parts else "0/s"


def _count(value: float | int | None) -> str:
    return "-" if value is None else f"{value:g}"


def _lag(f: Figures) -> str:
    if not f.ready_flips_s:
        return "-"
    return f"{_ms(f.ready_flips_s)} ({f.flips} flips in {f.flip_seconds:.0f} s)"


ROWS: tuple[tuple[str, Any], ...] = (
    ("RSS after idle", lambda f: _mib(f.rss_kib)),
    ("RSS at the end", lambda f: _mib(f.rss_end_kib)),
    ("start-up to /ready", lambda f: _s(f.ready_s)),
    ("start-up to every endpoint held", lambda f: _s(f.all_endpoints_s)),
    ("first KV document / intention (created)", lambda f: f"{_one(f.kv_first_s)} / {_one(f.intention_first_s)}"),
    ("KV document applied, p50 / p99", lambda f: _ms(f.kv_s)),
    ("intention change applied, p50 / p99", lambda f: _ms(f.intention_s)),
    ("endpoint critical until dropped, p50 / p99", lambda f: _ms(f.critical_s)),
    ("requests at Consul when idle", _rate),
    ("agent CPU when idle", lambda f: "-" if f.agent_idle_cpu_s is None else f"{f.agent_idle_cpu_s / f.idle_s:.1%}"),
    ("GET /ready at rest, p50 / p99", lambda f: _ms(f.ready_rest_s)),
    ("GET /ready under 4 flips/s, p50 / p99", _lag),
    ("watch failures", lambda f: _count(f.watch_errors)),
    ("failed Consul requests", lambda f: _count(f.consul_failures)),
    ("fail-static episodes", lambda f: _count(f.fail_static_episodes)),
    ("warnings and errors in the agent's log", lambda f: _count(f.log_warnings)),
    ("checks not passing at the end", lambda f: "-" if f.load is None else str(len(f.checks_not_passing))),
    ("changes not applied within 60 s", lambda f: str(f.apply_timeouts)),
    ("held stable for", lambda f: _s(f.stable_s) if f.stable_s else "-"),
    ("load average (1/5/15 min) at the end", lambda f: "-" if f.load is None else "/".join(f"{v:.2f}" for v in f.load)),
)


def render(figures: Sequence[Figures]) -> str:
    """A Markdown table: one column per case, one row per figure (the issue's layout)."""
    header = ["host", *(f.title for f in figures)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, show in ROWS:
        lines.append("| " + " | ".join([label, *(str(show(f)) for f in figures)]) + " |")
    problems = [f"- {f.title}: {f.problem}" for f in figures if f.problem]
    return "\n".join(lines + (["", *problems] if problems else []))
