"""Durations as Consul's JSON carries them: Go strings (`10s`, `1m0s`) or nanosecond numbers."""

from __future__ import annotations

from typing import Any

from mesh.durations import parse_duration


def parse_go_duration(value: Any) -> float:
    """Seconds from a Go duration string or an integer count of nanoseconds.

    Raises ValueError with Go's wording (`time: invalid duration "x"`), which Consul
    puts in its "Request decode failed" message.
    """
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise ValueError(f"time: invalid duration {value!r}")
    if isinstance(value, (int, float)):
        return float(value) / 1e9
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            raise ValueError(f'time: invalid duration "{value}"') from None
    raise ValueError(f"time: invalid duration {value!r}")


def format_go_duration(seconds: float) -> str:
    """`time.Duration.String()`: `0s`, `500ms`, `10s`, `1m0s`, `1h30m0s`, `1.5s`."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trim(nanos / size) + unit
    hours, rem = divmod(nanos, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    secs = _trim(rem / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
