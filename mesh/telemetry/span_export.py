"""The span exporter: a bounded queue filled on the hot path, emptied in batches by one task.

Recording a span costs a request one list append (`add`): the queued item is whatever the
data plane hands over (its own per-request record), turned into FinishedSpans and protobuf
only here, in the export task, off the request's path. The queue is bounded (`max_queue`):
when the collector is slow or down, new spans are dropped and counted
(`mesh_tracing_spans_dropped_total{reason="queue_full"}`), never waited for, so a failing
collector cannot slow a request, hold memory, or fail one.

Encoding is the costly part (some 10-20 microseconds a span in upb's protobuf): it runs in
the export task, which gives the event loop a turn every ENCODE_CHUNK spans.

The task sends a batch when `max_batch` spans are waiting or `interval` seconds have passed,
one POST at a time (OTLP/HTTP protobuf to `<endpoint>/v1/traces`), each bounded by `timeout`.
A retryable answer (429, 502-504, or none at all) is retried `retries` times with backoff
(mesh.telemetry.otlp.retry_delay), then the batch is given up and its spans counted as
dropped (reason export_failed). At most one batch is in flight besides the queue, so the
memory held is bounded by max_queue + max_batch spans.

Lifecycle: `run()` is a task of the agent's task group (cancelled at shutdown); `close()`
then sends what is left once, within a deadline, and closes the HTTP session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from mesh.telemetry.otlp import CONTENT_TYPE, RETRYABLE_STATUSES, ExportBuilder, retry_delay, traces_url
from mesh.telemetry.spans import Attributes, FinishedSpan

log = structlog.get_logger("mesh.telemetry.spans")

T = TypeVar("T")

MAX_QUEUE = 2048
MAX_BATCH = 512
INTERVAL = 1.0
TIMEOUT = 10.0
RETRIES = 2
BACKOFF = 0.5
CLOSE_DEADLINE = 2.0
ENCODE_CHUNK = 64  # spans encoded between two turns of the event loop (about a millisecond)


class SpanExportMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.exported = Counter(
            "mesh_tracing_spans_exported", "Spans accepted by the OTLP collector", registry=registry
        )
        dropped = Counter(
            "mesh_tracing_spans_dropped",
            "Spans never exported: queue_full (the queue was full when recorded), export_failed "
            "(the collector refused or did not answer, retries included), shutdown (pending at stop)",
            ["reason"],
            registry=registry,
        )
        # Children fetched once: a drop happens on the request's path when the queue is full.
        self.dropped_full = dropped.labels("queue_full")
        self.dropped_failed = dropped.labels("export_failed")
        self.dropped_shutdown = dropped.labels("shutdown")
        self.failures = Counter(
            "mesh_tracing_export_failures",
            "OTLP export requests that failed, by reason (http_<status>, unreachable, timeout)",
            ["reason"],
            registry=registry,
        )
        self.queued = Gauge("mesh_tracing_spans_queued", "Spans waiting to be exported", registry=registry)


class BatchSpanProcessor(Generic[T]):
    """Queue of items to export as spans; `convert` makes each one a FinishedSpan at export time."""

    def __init__(
        self,
        endpoint: str,
        convert: Callable[[T], FinishedSpan],
        resource: Callable[[], Attributes],
        registry: CollectorRegistry,
        *,
        max_queue: int = MAX_QUEUE,
        max_batch: int = MAX_BATCH,
        interval: float = INTERVAL,
        timeout: float = TIMEOUT,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        self.url = traces_url(endpoint)
        self.convert = convert
        self.resource = resource
        self.metrics = SpanExportMetrics(registry)
        self.max_queue, self.max_batch, self.interval = max_queue, max_batch, interval
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._pending: list[T] = []
        self._full = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._failing = False  # logged once when exports start failing, once when they recover
        self.metrics.queued.set_function(lambda: len(self._pending))

    def add(self, item: T) -> None:
        """Queue one span (the hot path: an append, or a counted drop when the queue is full)."""
        pending = self._pending
        if len(pending) >= self.max_queue:
            self.metrics.dropped_full.inc()
            return
        pending.append(item)
        if len(pending) == self.max_batch:
            self._full.set()

    async def run(self) -> None:
        """Export batches until cancelled."""
        while True:
            if len(self._pending) < self.max_batch:
                self._full.clear()
                try:
                    async with asyncio.timeout(self.interval):
                        await self._full.wait()
                except TimeoutError:
                    pass
            if self._pending:
                batch = self._take()
                try:
                    await self._export(batch, retries=self.retries)
                except Exception:
                    # A bug of ours must cost spans, never the agent (this task is in its task group).
                    log.exception("span export failed", spans=len(batch))
                    self.metrics.dropped_failed.inc(len(batch))

    async def close(self, deadline: float = CLOSE_DEADLINE) -> None:
        """Send what is still queued, once each batch and within `deadline`; then close the session."""
        try:
            async with asyncio.timeout(deadline):
                while self._pending:
                    await self._export(self._take(), retries=0)
        except TimeoutError:
            pass
        finally:
            if self._pending:
                self.metrics.dropped_shutdown.inc(len(self._pending))
                self._pending.clear()
            if self._session is not None:
                await self._session.close()
                self._session = None

    def _take(self) -> list[T]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch

    async def _export(self, batch: list[T], *, retries: int) -> None:
        attempt = 1
        try:
            body = await self._encode(batch)
            if body is None:
                self.metrics.dropped_failed.inc(len(batch))
                return
            while True:
                status, retry_after, reason = await self._post(body)
                if status is not None and 200 <= status < 300:
                    self.metrics.exported.inc(len(batch))
                    if self._failing:
                        self._failing = False
                        log.info("span export recovered", url=self.url)
                    return
                self.metrics.failures.labels(reason).inc()
                delay = retry_delay(status, attempt, retry_after, base=self.backoff) if attempt <= retries else None
                if delay is None:
                    self.metrics.dropped_failed.inc(len(batch))
                    if not self._failing:
                        self._failing = True
                        log.warning("span export failing: spans dropped", url=self.url, reason=reason)
                    return
                await asyncio.sleep(delay)
                attempt += 1
        except asyncio.CancelledError:
            self.metrics.dropped_shutdown.inc(len(batch))
            raise

    async def _encode(self, batch: list[T]) -> bytes | None:
        """The batch as one request body; the event loop gets a turn every ENCODE_CHUNK spans,
        so a full batch never holds requests up for the whole of its encoding."""
        try:
            builder = ExportBuilder(self.resource())
            for n, item in enumerate(batch, 1):
                builder.add(self.convert(item))
                if n % ENCODE_CHUNK == 0:
                    await asyncio.sleep(0)
            return builder.to_bytes()
        except Exception:
            log.exception("span export: encoding a batch failed", spans=len(batch))  # a bug of ours
            return None

    async def _post(self, body: bytes) -> tuple[int | None, str | None, str]:
        """(status, Retry-After, failure reason); status None when the collector gave no answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                self.url,
                data=body,
                headers={"Content-Type": CONTENT_TYPE},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status, response.headers.get("Retry-After"), _status_reason(response.status)
        except TimeoutError:
            return None, None, "timeout"
        except (aiohttp.ClientError, OSError):
            return None, None, "unreachable"


def _status_reason(status: int) -> str:
    # Bounded label values whatever the collector answers.
    if status in RETRYABLE_STATUSES or 400 <= status <= 599:
        return f"http_{status}"
    return "http_other"
