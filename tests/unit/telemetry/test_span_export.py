"""The batch span processor against a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry

from mesh.telemetry.span_export import BatchSpanProcessor
from mesh.telemetry.spans import FinishedSpan, SpanKind
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.ports import free_port

HOST = (("host.name", "vm-1"), ("mesh.node", "node-1"))


def finished(n: int) -> FinishedSpan:
    return FinishedSpan(
        "web", "4bf92f3577b34da6a3ce929d0e0e4736", f"{n + 1:016x}", "", "GET", SpanKind.CLIENT, 1, 2, ()
    )


def processor(endpoint: str, registry: CollectorRegistry, **options: float) -> BatchSpanProcessor[FinishedSpan]:
    options.setdefault("backoff", 0.01)
    return BatchSpanProcessor(endpoint, lambda s: s, lambda: HOST, registry, **options)  # type: ignore[arg-type]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(p: BatchSpanProcessor[FinishedSpan]) -> AsyncIterator[None]:
    task = asyncio.create_task(p.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await p.close(deadline=1.0)


async def test_spans_are_exported_once_the_interval_passes() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver() as receiver:
        p = processor(receiver.endpoint, registry, interval=0.05)
        async with running(p):
            for n in range(3):
                p.add(finished(n))
            await until(lambda: len(receiver.spans) == 3, "three spans received")
        assert [s.span_id for s in receiver.spans] == ["0000000000000001", "0000000000000002", "0000000000000003"]
        assert receiver.spans[0].resource == {"service.name": "web", "host.name": "vm-1", "mesh.node": "node-1"}
        assert value(registry, "mesh_tracing_spans_exported_total") == 3
        assert receiver.refused == []


async def test_a_full_batch_is_sent_without_waiting_for_the_interval() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver() as receiver:
        p = processor(receiver.endpoint, registry, interval=3600, max_batch=4)
        async with running(p):
            for n in range(10):
                p.add(finished(n))
            await until(lambda: len(receiver.spans) == 8, "two full batches received")
            assert receiver.posts == 2
            assert value(registry, "mesh_tracing_spans_queued") == 2  # under a batch: waits for the interval


async def test_the_queue_is_bounded_and_what_does_not_fit_is_dropped_and_counted() -> None:
    registry = CollectorRegistry()
    p = processor("http://127.0.0.1:9", registry, max_queue=5)
    for n in range(8):
        p.add(finished(n))
    assert value(registry, "mesh_tracing_spans_queued") == 5
    assert value(registry, "mesh_tracing_spans_dropped_total", reason="queue_full") == 3
    await p.close(deadline=0.0)


async def test_a_collector_that_is_down_costs_retries_then_the_batch_is_dropped_and_counted() -> None:
    registry = CollectorRegistry()
    p = processor(f"http://127.0.0.1:{free_port()}", registry, interval=0.01, retries=2)
    async with running(p):
        started = time.perf_counter()
        for n in range(2):
            p.add(finished(n))
        recorded = time.perf_counter() - started
        await until(
            lambda: value(registry, "mesh_tracing_spans_dropped_total", reason="export_failed") == 2, "the drop"
        )
    assert value(registry, "mesh_tracing_export_failures_total", reason="unreachable") == 3  # the send and 2 retries
    assert value(registry, "mesh_tracing_spans_exported_total") == 0
    assert recorded < 0.5  # recording never waits for the collector (a loose bound: it is two appends)


async def test_a_503_is_retried_and_the_batch_then_lands_once() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver(answers=[503]) as receiver:
        p = processor(receiver.endpoint, registry, interval=0.01)
        async with running(p):
            for n in range(3):
                p.add(finished(n))
            await until(lambda: value(registry, "mesh_tracing_spans_exported_total") == 3, "the export")
        assert receiver.posts == 2
        assert len(receiver.spans) == 3
        assert value(registry, "mesh_tracing_export_failures_total", reason="http_503") == 1
        assert value(registry, "mesh_tracing_spans_dropped_total", reason="export_failed") == 0


async def test_a_final_refusal_is_not_retried() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver(answers=[400]) as receiver:
        p = processor(receiver.endpoint, registry, interval=0.01)
        async with running(p):
            p.add(finished(0))
            await until(
                lambda: value(registry, "mesh_tracing_spans_dropped_total", reason="export_failed") == 1, "drop"
            )
        assert receiver.posts == 1
        assert value(registry, "mesh_tracing_export_failures_total", reason="http_400") == 1


async def test_retries_are_bounded_when_the_collector_stays_overloaded() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver(answers=[503] * 10) as receiver:
        p = processor(receiver.endpoint, registry, interval=0.01, retries=2)
        async with running(p):
            p.add(finished(0))
            await until(
                lambda: value(registry, "mesh_tracing_spans_dropped_total", reason="export_failed") == 1, "drop"
            )
        assert receiver.posts == 3


async def test_a_slow_collector_times_out_and_recording_goes_on_meanwhile() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver(delay=5.0) as receiver:
        p = processor(receiver.endpoint, registry, interval=0.01, timeout=0.2, retries=0, max_queue=4)
        async with running(p):
            p.add(finished(0))
            await until(lambda: receiver.posts == 1, "the first post")
            for n in range(10):  # while the export hangs: the queue fills and the rest is dropped, nothing waits
                p.add(finished(n))
            assert value(registry, "mesh_tracing_spans_dropped_total", reason="queue_full") == 6
            await until(lambda: value(registry, "mesh_tracing_export_failures_total", reason="timeout") >= 1, "timeout")


async def test_close_sends_what_is_queued() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver() as receiver:
        p = processor(receiver.endpoint, registry, interval=3600)
        for n in range(3):
            p.add(finished(n))
        await p.close(deadline=10.0)
        assert len(receiver.spans) == 3


async def test_close_within_its_deadline_counts_what_it_could_not_send() -> None:
    registry = CollectorRegistry()
    async with OtlpReceiver(delay=10.0) as receiver:
        p = processor(receiver.endpoint, registry, interval=3600)
        for n in range(3):
            p.add(finished(n))
        await p.close(deadline=0.2)
        assert value(registry, "mesh_tracing_spans_dropped_total", reason="shutdown") == 3
        assert receiver.spans == []


async def test_a_span_that_cannot_be_built_costs_its_batch_not_the_export_task() -> None:
    registry = CollectorRegistry()

    def convert(span: FinishedSpan) -> FinishedSpan:
        if span.span_id == "0000000000000001":
            raise ValueError("a bug in building spans")
        return span

    async with OtlpReceiver() as receiver:
        p = BatchSpanProcessor(receiver.endpoint, convert, lambda: HOST, registry, interval=0.01)
        async with running(p):
            p.add(finished(0))
            await until(
                lambda: value(registry, "mesh_tracing_spans_dropped_total", reason="export_failed") == 1, "drop"
            )
            p.add(finished(1))
            await until(lambda: len(receiver.spans) == 1, "the next batch exported")
