"""What an interop test sees from outside the proxies: an application's answer, a metric's value."""

from __future__ import annotations

import http.client
import json

from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import http_get


def get_through(host: str, port: int, path: str) -> dict[str, object] | None:
    """The echo app's answer through a proxy's listener, or None when a proxy on the way closed it."""
    try:
        code, body = http_get(f"http://{host}:{port}{path}", timeout=5)
    except (OSError, http.client.HTTPException):
        return None
    if code != 200:
        return None
    doc: dict[str, object] = json.loads(body)
    return doc


def sample(exposition: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus text exposition (0 when absent, as a counter not yet incremented)."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0
