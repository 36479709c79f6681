"""An OTLP/HTTP trace receiver for tests: decodes ExportTraceServiceRequest with the official
OTLP protobuf definitions and keeps what it received.

`answers` scripts the collector: each POST pops the next status (200 once they run out), so a
test can say "503, then OK". `delay` makes it slow. Start it on the test's loop
(`async with OtlpReceiver() as r`) or on a thread of its own for tests that drive processes
(`with ThreadedOtlpReceiver() as r`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support.ports import free_port

Value = str | int | float | bool | None


@dataclass(frozen=True)
class ReceivedSpan:
    resource: dict[str, Value]
    scope: str
    trace_id: str  # hex, as in traceparent
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: int  # OTLP SpanKind: 2 SERVER, 3 CLIENT
    start_ns: int
    end_ns: int
    attributes: dict[str, Value]
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str

    @property
    def service(self) -> Value:
        return self.resource.get("service.name")


def value_of(value: AnyValue) -> Value:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Value]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        resource=resource,
                        scope=scope_spans.scope.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=attributes_of(span.attributes),
                        status_code=span.status.code,
                        status_message=span.status.message,
                    )
                )
    return out


class OtlpReceiver:
    def __init__(self, host: str = "127.0.0.1", *, answers: Iterable[int] = (), delay: float = 0.0) -> None:
        self.host = host
        self.port = 0
        self.answers: deque[int] = deque(answers)
        self.delay = delay
        self.spans: list[ReceivedSpan] = []
        self.posts = 0  # every POST, answered or not
        self.refused: list[str] = []  # why a POST was not accepted (wrong path, type, or body)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> OtlpReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.port = self.port or free_port(self.host)
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _traces(self, request: web.Request) -> web.Response:
        self.posts += 1
        body = await request.read()
        if self.delay:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.delay):
                    await self._stopping.wait()  # released at stop: a slow receiver still stops at once
        if self.answers:
            status = self.answers.popleft()
            if status != 200:
                return web.Response(status=status)
        if request.content_type != "application/x-protobuf":
            self.refused.append(f"content type {request.content_type}")
            return web.Response(status=415)
        try:
            self.spans.extend(decode_spans(body))
        except DecodeError as exc:
            self.refused.append(f"undecodable: {exc}")
            return web.Response(status=400)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )


class ThreadedOtlpReceiver:
    """An OtlpReceiver on a thread with its own loop, for tests that are not async."""

    def __init__(self, host: str = "127.0.0.1", **kwargs: Any) -> None:
        self.receiver = OtlpReceiver(host, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        return self.receiver.endpoint

    def spans(self) -> list[ReceivedSpan]:
        return list(self.receiver.spans)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def threaded_receiver(host: str = "127.0.0.1", **kwargs: Any) -> Iterator[ThreadedOtlpReceiver]:
    receiver = ThreadedOtlpReceiver(host, **kwargs)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
