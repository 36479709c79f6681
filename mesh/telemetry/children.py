"""A labelled metric's children, looked up once per label set.

prometheus_client's `.labels(...)` validates the values, turns each into a string and takes
the metric's lock on every call: a few microseconds, per request, per metric. `Children`
keeps each child it has handed out in a dict keyed by the label values as given, so the
per-request cost is one dict lookup; callers keep writing `metric.labels(...).inc()`.

The dict holds one entry per label set used, as the metric itself does (children are never
removed here: nothing in the mesh calls `.remove()` on a metric, which would leave a cached
child counting outside the registry). So it is bounded exactly as the metric's series are:
by label values drawn from small sets (directions, results, status codes), service names
from the configuration and the catalog, and sources bounded by mesh.telemetry.source_labels.
Never give it a label from the wire that no such bound covers.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child
