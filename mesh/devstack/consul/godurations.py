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
