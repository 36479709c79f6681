"""Times as operators read them: "in 23h", "5m ago", and RFC 3339 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

_STEPS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def approximate(seconds: float) -> str:
    """The largest whole unit, plus the next one when the first is small: `2d3h`, `23h`, `45s`."""
    whole = int(abs(seconds))
    for i, (size, unit) in enumerate(_STEPS):
        if whole >= size:
            first, rest = divmod(whole, size)
            text = f"{first}{unit}"
            if first < 10 and i + 1 < len(_STEPS):
                size2, unit2 = _STEPS[i + 1]
                second = rest // size2
                if second:
                    text += f"{second}{unit2}"
            return text
    return "0s"


def relative(when: float, now: float) -> str:
    """`in 23h` for the future, `5m ago` for the past, `now` within a second."""
    delta = when - now
    if abs(delta) < 1:
        return "now"
    return f"in {approximate(delta)}" if delta > 0 else f"{approximate(delta)} ago"


def rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
