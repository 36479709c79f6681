"""Log each intention this agent cannot read once, when it appears or changes, and count it."""

from __future__ import annotations

import structlog

from mesh.intentions import IntentionTable
from mesh.intentions.reading import ERROR_PREFIX
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("agent")


def report_intentions(before: IntentionTable, after: IntentionTable, metrics: Metrics) -> None:
    """Unreadable intentions deny what they govern; the rest of the set is applied regardless."""
    for key, error in after.errors.items():
        if before.errors.get(key) == error:
            continue
        metrics.intentions_rejected.labels(key.removeprefix(ERROR_PREFIX)).inc()
        log.error("intention not applied; it denies what it governs", key=key, error=error)
    for key in before.errors.keys() - after.errors.keys():
        log.info("intention readable again, or removed", key=key)
