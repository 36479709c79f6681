"""Vault's duration arithmetic: parsing TTL fields, lease TTL capping.

Warnings that Vault returns quote durations with Go's `time.Duration.String()` (`72h0m0s`),
so clients matching on them see the same text from the stand-in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mesh.durations import format_go_duration, parse_duration

HOUR = 3600
# `vault server -dev` runs with the built-in defaults: 32 days for both.
SYSTEM_DEFAULT_LEASE_TTL = 768 * HOUR
SYSTEM_MAX_LEASE_TTL = 768 * HOUR

_DAYS = re.compile(r"(\d+)d")


class TTLError(ValueError):
    """A TTL field could not be parsed, or a lease is past its maximum TTL."""


def parse_ttl(value: object, field: str) -> int:
    """Seconds for a TTL field, as Vault's `ParseDurationSecond` reads it.

    Numbers and digit-only strings are seconds, `Nd` is days, anything else is a Go duration;
    fractions of a second are dropped, as Vault stores whole seconds.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise TTLError(f'error converting input {value} for field "{field}": invalid duration')
    if isinstance(value, int | float):
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip()
        days = _DAYS.fullmatch(text)
        if text.isdigit():
            seconds = int(text)
        elif days:
            seconds = int(days.group(1)) * 24 * HOUR
        else:
            try:
                seconds = int(parse_duration(text))
            except ValueError:
                raise TTLError(
                    f'error converting input {value} for field "{field}": time: invalid duration "{value}"'
                ) from None
    else:
        raise TTLError(f'error converting input {value!r} for field "{field}": invalid duration')
    if seconds < 0:
        raise TTLError(f'error converting input {value} for field "{field}": negative duration')
    return seconds


@dataclass(frozen=True, slots=True)
class MountLimits:
    """A mount's effective lease TTLs (its tuned values, else the system's)."""

    default_ttl: int = SYSTEM_DEFAULT_LEASE_TTL
    max_ttl: int = SYSTEM_MAX_LEASE_TTL


def calculate_ttl(
    *,
    now: float,
    limits: MountLimits,
    increment: int = 0,
    backend_ttl: int = 0,
    period: int = 0,
    backend_max_ttl: int = 0,
    explicit_max_ttl: int = 0,
    start_time: float | None = None,
) -> tuple[int, list[str]]:
    """The TTL Vault grants a lease (token login, creation or renewal), with its warnings.

    The same precedence as Vault's `framework.CalculateTTL`: a period escapes the max TTL
    (except an explicit one); otherwise increment, then the backend's TTL, then the mount's
    default, capped so the lease never outlives `start_time + max TTL`.
    """
    now = math.floor(now)
    start = now if start_time is None else math.floor(start_time)
    max_ttl = limits.max_ttl
    if 0 < backend_max_ttl < max_ttl:
        max_ttl = backend_max_ttl
    if 0 < explicit_max_ttl < max_ttl:
        max_ttl = explicit_max_ttl
    if max_ttl <= 0:
        raise TTLError("max TTL must be greater than zero")

    warnings: list[str] = []
    max_valid: float | None
    if period > 0:
        if period > max_ttl:
            warnings.append(
                f'period of "{format_go_duration(period)}" exceeded the effective max_ttl of '
                f'"{format_go_duration(max_ttl)}"; '
                "period value is capped accordingly"
            )
            period = max_ttl
        ttl = period
        max_valid = start + explicit_max_ttl if explicit_max_ttl > 0 else None
    else:
        ttl = increment if increment > 0 else backend_ttl if backend_ttl > 0 else limits.default_ttl
        max_valid = start + max_ttl

    if max_valid is not None:
        remaining = int(max_valid - now)
        if remaining < 0:
            raise TTLError("past the max TTL, cannot renew")
        if remaining < ttl:
            warnings.append(
                f'TTL of "{format_go_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_go_duration(remaining)}"; '
                "TTL value is capped accordingly"
            )
            ttl = remaining
    return ttl, warnings
