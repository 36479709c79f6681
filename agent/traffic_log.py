"""Log each traffic-document change once: applied, removed, or refused with every problem."""

from __future__ import annotations

import structlog

from mesh.telemetry.metrics import Metrics
from mesh.traffic.state import TrafficState

log = structlog.get_logger("agent")


def report_traffic(before: TrafficState, after: TrafficState, metrics: Metrics) -> None:
    """Applied, removed, and refused documents (counted per key when refused)."""
    for doc_id, version in after.documents.items():
        old = before.documents.get(doc_id)
        if old is None or old.modify_index != version.modify_index:
            log.info("traffic document applied", key=version.key, modify_index=version.modify_index)
    for gone in before.documents.keys() - after.documents.keys():
        log.info("traffic document removed", key=before.documents[gone].key)
    for error in after.errors_since(before):
        if error.outcome != "in_force":
            metrics.config_rejected.labels(error.key).inc()
        log.error(
            "traffic document not applied"
            if error.outcome != "in_force"
            else "traffic document has a broken reference",
            key=error.key,
            outcome=error.outcome,
            modify_index=error.modify_index,
            kept_modify_index=error.kept_index,
            problems=list(error.problems),
        )
