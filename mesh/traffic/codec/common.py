"""Conversions shared by every kind: durations, header edits, and the extensions.

Decoders take data that already passed the schema and the rules, so they do not re-check it.
Encoders write Consul's field names and leave out what is unset, so that what they produce
validates and decodes back to the same model.
"""

from __future__ import annotations

from typing import Any

from mesh.durations import parse_duration
from mesh.traffic.model.common import (
    DEFAULT_RETRY_BACKOFF_BASE,
    DEFAULT_RETRY_BUDGET_MIN_PER_SECOND,
    DEFAULT_RETRY_BUDGET_PERCENT,
    DEFAULT_RETRY_BUDGET_TTL,
    RETRY_BACKOFF_MAX_FACTOR,
    Fault,
    FaultAbort,
    FaultDelay,
    HeaderModifiers,
    Mirror,
    RetryBackoff,
    RetryBudget,
)

_NANOSECONDS = 1_000_000_000
_UNITS = ((3600 * _NANOSECONDS, "h"), (60 * _NANOSECONDS, "m"), (_NANOSECONDS, "s"), (1_000_000, "ms"), (1000, "us"))


def seconds(text: str) -> float:
    """Seconds of a Go duration, rounded to whole nanoseconds as Go holds them, so that "1.5s"
    and "1500ms" give the same float."""
    return round(parse_duration(text), 9)


def optional_seconds(value: Any) -> float | None:
    """Seconds, or None when absent or zero (Consul's "unset, use the default")."""
    if not value:
        return None
    return seconds(value) or None


def go_duration(value: float) -> str:
    """The largest unit that spells the duration exactly: 90 -> "90s", 0.25 -> "250ms"."""
    nanoseconds = round(value * _NANOSECONDS)
    for size, unit in _UNITS:
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns"


def optional_int(value: Any) -> int | None:
    """An integer field where absent or 0 means "unset" (JSON Schema lets 1024.0 pass as an integer)."""
    return int(value) if value else None


def compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Leave out unset fields: None, False and empty values (0 is kept: a 0 % fault is a value)."""
    return {k: v for k, v in fields.items() if v is not None and v is not False and v != "" and v != [] and v != {}}


def header_modifiers_from(raw: Any) -> HeaderModifiers | None:
    if raw is None:
        return None
    modifiers = HeaderModifiers(
        add=tuple(sorted(raw.get("Add", {}).items())),
        set=tuple(sorted(raw.get("Set", {}).items())),
        remove=tuple(raw.get("Remove", [])),
    )
    # Edits that change nothing are no edits: one spelling for "none".
    return modifiers if modifiers != HeaderModifiers() else None


def header_modifiers_to(modifiers: HeaderModifiers | None) -> dict[str, Any] | None:
    if modifiers is None:
        return None
    return compact({"Add": dict(modifiers.add), "Set": dict(modifiers.set), "Remove": list(modifiers.remove)})


def retry_budget_from(raw: Any) -> RetryBudget | None:
    if raw is None:
        return None
    return RetryBudget(
        percent=float(raw.get("Percent", DEFAULT_RETRY_BUDGET_PERCENT)),
        min_retries_per_second=int(raw.get("MinRetriesPerSecond", DEFAULT_RETRY_BUDGET_MIN_PER_SECOND)),
        ttl=seconds(raw["TTL"]) if "TTL" in raw else DEFAULT_RETRY_BUDGET_TTL,
    )


def retry_budget_to(budget: RetryBudget | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    return {
        "Percent": budget.percent,
        "MinRetriesPerSecond": budget.min_retries_per_second,
        "TTL": go_duration(budget.ttl),
    }


def retry_backoff_from(raw: Any) -> RetryBackoff | None:
    if raw is None:
        return None
    base = seconds(raw["BaseInterval"]) if "BaseInterval" in raw else DEFAULT_RETRY_BACKOFF_BASE
    ceiling = seconds(raw["MaxInterval"]) if "MaxInterval" in raw else round(base * RETRY_BACKOFF_MAX_FACTOR, 9)
    return RetryBackoff(base_interval=base, max_interval=ceiling)


def retry_backoff_to(backoff: RetryBackoff | None) -> dict[str, Any] | None:
    if backoff is None:
        return None
    return {"BaseInterval": go_duration(backoff.base_interval), "MaxInterval": go_duration(backoff.max_interval)}


def fault_from(raw: Any) -> Fault | None:
    if raw is None:
        return None
    delay, abort = raw.get("Delay"), raw.get("Abort")
    return Fault(
        delay=FaultDelay(float(delay["Percent"]), seconds(delay["Duration"])) if delay is not None else None,
        abort=FaultAbort(float(abort["Percent"]), int(abort["HTTPStatus"])) if abort is not None else None,
    )


def fault_to(fault: Fault | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    delay = {"Percent": fault.delay.percent, "Duration": go_duration(fault.delay.duration)} if fault.delay else None
    abort = {"Percent": fault.abort.percent, "HTTPStatus": fault.abort.http_status} if fault.abort else None
    return compact({"Delay": delay, "Abort": abort})


def mirror_from(raw: Any) -> Mirror | None:
    if raw is None:
        return None
    return Mirror(
        service=raw["Service"], service_subset=raw.get("ServiceSubset") or None, percent=float(raw.get("Percent", 100))
    )


def mirror_to(mirror: Mirror | None) -> dict[str, Any] | None:
    if mirror is None:
        return None
    return compact({"Service": mirror.service, "ServiceSubset": mirror.service_subset, "Percent": mirror.percent})
