"""wrk: running it, and reading its human-oriented report back into numbers.

The text report is parsed (rather than a Lua `done()` hook) so that any stock wrk works and
what the harness records is exactly what a person running wrk by hand would read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.supervisor import Supervisor

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(?P<pct>\d+(?:\.\d+)?)%\s+(?P<value>\d+(?:\.\d+)?)(?P<unit>us|ms|s|m|h)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+(?P<rps>\d+(?:\.\d+)?)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(?P<requests>\d+) requests in (?P<value>\d+(?:\.\d+)?)(?P<unit>us|ms|s|m|h),", re.M)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (?P<connect>\d+), read (?P<read>\d+), write (?P<write>\d+), timeout (?P<timeout>\d+)"
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (?P<count>\d+)")


class WrkOutputError(ValueError):
    """wrk's report lacked a number the harness needs (it failed, or its format changed)."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    non_2xx: int

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_wrk_output(text: str) -> WrkResult:
    """Read the numbers out of `wrk --latency` output; WrkOutputError when one is missing."""
    percentiles = {m["pct"]: _to_ms(m["value"], m["unit"]) for m in _PERCENTILE.finditer(text)}
    rps, total = _RPS.search(text), _TOTAL.search(text)
    missing = [name for name, found in (("Requests/sec", rps), ("request total", total)) if found is None]
    missing += [f"{pct}% latency" for pct in ("50", "99") if pct not in percentiles]
    if missing or rps is None or total is None:
        raise WrkOutputError(f"wrk output lacks {', '.join(missing)} (was --latency given?):\n{text}")
    sock = _SOCKET_ERRORS.search(text)
    non_2xx = _NON_2XX.search(text)
    return WrkResult(
        requests=int(total["requests"]),
        duration_s=_to_ms(total["value"], total["unit"]) / 1000.0,
        rps=float(rps["rps"]),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        socket_errors=sum(int(v) for v in sock.groupdict().values()) if sock else 0,
        non_2xx=int(non_2xx["count"]) if non_2xx else 0,
    )


def wrk_argv(wrk: str, url: str, *, connections: int, seconds: int) -> list[str]:
    # One client thread: on a 2-core machine a second would only steal CPU from the proxies.
    return [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]


def run_wrk(supervisor: Supervisor, wrk: str, url: str, *, connections: int, seconds: int) -> WrkResult:
    """One wrk run to completion; its output is also appended to the run's wrk log."""
    argv = wrk_argv(wrk, url, connections=connections, seconds=seconds)
    output = supervisor.run_to_completion("wrk", argv, timeout=seconds + 30.0)
    try:
        return parse_wrk_output(output)
    except WrkOutputError as exc:
        raise WrkOutputError(f"{exc}\n(command: {' '.join(argv)}; log: {supervisor.log_path('wrk')})") from None
