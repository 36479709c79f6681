"""What both listeners' request handlers share: answering locally, and finishing a forward.

A handler answers a request either itself (a refusal, an error: `answer`) or by forwarding
it (`finish_forward`, which also turns the exchange's failures into answers and runs a
WebSocket tunnel). Either way it returns whether the client connection may carry another
request, and `handle` reports the record exactly once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

from mesh.http import ProtocolError
from mesh.proxy.http.access_log import Direction, RequestRecord
from mesh.proxy.http.downstream import DrainSignal, IncomingRequest, send
from mesh.proxy.http.failures import ClientFailed, ExchangeFailed
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.forwarding import Forwarded
from mesh.proxy.http.local_replies import local_reply
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.tunnel import tunnel

# Held around a WebSocket tunnel (the inbound side registers it so an intention change can close it).
TunnelGuard = Callable[[], contextlib.AbstractContextManager[None]]


class ProxyHandler:
    """Base of the inbound and outbound request handlers (see mesh.proxy.http.downstream.RequestHandler)."""

    direction: Direction

    def __init__(self, metrics: HttpMetrics, drain: DrainSignal, *, source: str, destination: str) -> None:
        self.metrics = metrics
        self.drain = drain
        self.source = source
        self.destination = destination

    def new_record(self, started: float) -> RequestRecord:
        return RequestRecord(self.direction, self.source, self.destination, started)

    def report(self, record: RequestRecord) -> None:
        self.metrics.report(record, time.perf_counter())

    async def handle(self, request: IncomingRequest) -> bool:
        try:
            return await self._handle(request)
        finally:
            self.report(request.record)

    async def _handle(self, request: IncomingRequest) -> bool:
        """The listener's own steps for one request (see its module docstring)."""
        raise NotImplementedError

    async def answer(
        self, request: IncomingRequest, status: int, reason: str, *, flag: Flag, denied: bool = False
    ) -> bool:
        """Answer `request` ourselves; True when the connection stays usable.

        An unread (or half-read) request body leaves the connection mid-message, so the
        answer then says `Connection: close` and the connection ends with it.
        """
        record = request.record
        record.status = status
        record.flags.append(flag)
        record.reason = reason
        keep = request.prepared.keep_alive and request.body_settled() and not self.drain.draining
        head_only = request.prepared.head.method == b"HEAD"
        sent = await send(
            request.client, local_reply(status, reason, denied=denied, close=not keep, head_only=head_only, flag=flag)
        )
        return keep and sent

    async def finish_forward(
        self, request: IncomingRequest, forwarding: Awaitable[Forwarded], *, tunnel_guard: TunnelGuard | None = None
    ) -> bool:
        """Await a `forward(...)`; answer its failure, or run the tunnel after a 101."""
        try:
            forwarded = await forwarding
        except ExchangeFailed as exc:
            # No log line of its own: the access log line carries the flag and the reason.
            return await self.answer(request, exc.status, exc.reason, flag=exc.flag)
        except ClientFailed as exc:
            record = request.record
            record.flags.append(exc.flag)
            record.reason = exc.reason
            if exc.status:
                record.status = exc.status
                await send(request.client, local_reply(exc.status, exc.reason, close=True, flag=exc.flag))
            return False
        except ProtocolError as exc:
            if exc.remote:
                raise
            # Our own side asked for something unsendable (a header edit from a document): not the peer's fault.
            return await self.answer(request, 500, exc.reason, flag=Flag.LOCAL_ERROR)
        if forwarded.result.upgraded:
            guard = tunnel_guard() if tunnel_guard is not None else contextlib.nullcontext()
            try:
                with guard:
                    await tunnel(request, forwarded.connection)
            finally:
                forwarded.connection.abort()  # already closed by the tunnel's end; frees its pool slot
            return False
        return forwarded.result.client_reusable
