"""The client side of a connection: requests read one after another, each handed to a handler.

This is the part both listeners share (Envoy's connection manager): deadlines between and
during heads, protocol errors answered and the connection closed, keep-alive, draining.
What happens to a request (authorization, routing, the upstream exchange) is the handler's.

Per connection, until the client or the handler ends it:
1. wait for the first byte of a request (keep-alive idle timeout: then close silently);
2. read the head (header timeout: 408; malformed or over a limit: the codec's status);
   either way the connection is closed, since where the next message starts is unknown;
3. normalize it (mesh.proxy.http.normalize), then `handler.handle(request)`, which answers
   it and says whether the connection may carry another request.

Every step the connection's task waits in is bounded by the connection's one `Deadline`
(mesh.proxy.http.deadlines), re-armed per step: these waits, and those of the exchange the
handler runs in the same task (request_body.py, forwarding.py, exchange.py). Tasks of their
own (a request body sent alongside the response wait) have their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from mesh.http import ContentLength, Framing, NoBody, ProtocolError
from mesh.http.streams import HttpReader
from mesh.proxy.http.access_log import RequestRecord, logged_path
from mesh.proxy.http.deadlines import Deadline
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.local_replies import local_reply
from mesh.proxy.http.normalize import PreparedRequest, prepare_request
from mesh.proxy.http.timeouts import DownstreamTimeouts
from mesh.proxy.streams import close_quietly

if TYPE_CHECKING:
    from mesh.proxy.http.request_body import BufferedBody

log = structlog.get_logger("mesh.proxy.http")

# RFC 9110 9.2.2: repeating these has the effect of sending them once.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


@dataclass(eq=False, slots=True)
class Downstream:
    """One client connection: its streams, the reader that keeps bytes between messages, and
    the deadline of whatever its task waits for, one step at a time (no other task arms it)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: HttpReader
    deadline: Deadline = field(default_factory=Deadline)


@dataclass(eq=False, slots=True)
class IncomingRequest:
    """One request on a client connection, and how far its body has been read."""

    prepared: PreparedRequest
    framing: Framing
    client: Downstream
    record: RequestRecord
    body_started: bool = False  # a byte of the body was read (or 100 Continue sent): it cannot be replayed
    body_done: bool = False  # the body was read to its end
    continued: bool = False  # "100 Continue" was sent
    buffered: BufferedBody | None = None  # the whole body, read before the first attempt (request_body.py)

    @property
    def has_body(self) -> bool:
        framing = self.framing
        return not (isinstance(framing, NoBody) or (isinstance(framing, ContentLength) and framing.length == 0))

    @property
    def replayable(self) -> bool:
        """Its body (if any) is kept whole, so the request can be sent again as it was."""
        return not self.has_body or self.buffered is not None

    def can_resend(self) -> bool:
        """Safe to send again on another connection: idempotent, and its body can be sent again.

        RFC 9112 9.3.1: a request may be retried automatically after a connection closes
        under it only when it is idempotent (the first attempt may have been acted on).
        A route's retry policy may ask for more (Envoy retries what the route says).
        """
        return (not self.body_started or self.buffered is not None) and self.prepared.head.method in IDEMPOTENT

    def body_settled(self) -> bool:
        """The connection is at a message boundary as far as this request's body goes."""
        return not self.has_body or self.body_done


class RequestHandler(Protocol):
    def new_record(self, started: float) -> RequestRecord:
        """A record with this listener's direction, source and destination filled in."""
        ...

    def report(self, record: RequestRecord) -> None:
        """Count the request and write its access log line."""
        ...

    async def handle(self, request: IncomingRequest) -> bool:
        """Answer `request` completely; True when the connection may carry another request."""
        ...


class DrainSignal:
    """Tells a listener's connections to finish: idle ones close now, busy ones after their response."""

    def __init__(self) -> None:
        self.draining = False
        # The deadlines of connections waiting for a request: they expire at once when draining starts.
        self.idle: set[Deadline] = set()

    def start(self) -> None:
        self.draining = True
        for deadline in list(self.idle):
            deadline.expire()


async def serve_connection(
    client: Downstream, handler: RequestHandler, *, timeouts: DownstreamTimeouts, drain: DrainSignal
) -> None:
    """Serve requests on `client` until it closes, a request ends it, or the listener drains."""
    try:
        while not drain.draining:
            if not await _wait_for_request(client, timeouts.keepalive_idle, drain):
                return
            record = handler.new_record(time.perf_counter())
            try:
                with client.deadline.after(timeouts.header):
                    got = await client.http.read_request_head()
                if got is None:
                    return
                head, framing = got
                record.method = head.method.decode("ascii")
                record.path = logged_path(head.target.partition(b"?")[0])
                prepared = prepare_request(head)
            except TimeoutError:
                reason = f"request head not complete within {timeouts.header:g}s"
                await refuse(client, handler, record, 408, Flag.HEADER_TIMEOUT, reason)
                return
            except ProtocolError as exc:
                await refuse(
                    client, handler, record, exc.status_hint if exc.remote else 500, Flag.BAD_REQUEST, exc.reason
                )
                return
            except OSError:
                return
            record.path = logged_path(prepared.path)
            try:
                keep = await handler.handle(IncomingRequest(prepared, framing, client, record))
            except OSError:
                return  # the client went away
            except Exception:
                # A bug of ours: say so once, loudly, and answer 500 if nothing was sent yet.
                log.exception("request handling failed", method=record.method, path=record.path)
                if record.status == 0:
                    await send(client, local_reply(500, "internal error in the proxy", close=True))
                return
            if not keep:
                return
    finally:
        await close_quietly(client.writer)


async def _wait_for_request(client: Downstream, idle: float, drain: DrainSignal) -> bool:
    deadline = client.deadline
    try:
        with deadline.after(idle):
            drain.idle.add(deadline)
            try:
                return await client.http.wait_for_message() is not None
            finally:
                drain.idle.discard(deadline)
    except (TimeoutError, OSError):
        return False


async def refuse(
    client: Downstream, handler: RequestHandler, record: RequestRecord, status: int, flag: Flag, reason: str
) -> None:
    """Answer a request that cannot be read any further, and close: where the next one starts is unknown."""
    record.status = status
    record.flags.append(flag)
    record.reason = reason
    await send(client, local_reply(status, reason, close=True, flag=flag))
    handler.report(record)


async def send(client: Downstream, data: bytes) -> bool:
    """Write and drain; False when the client is gone."""
    with contextlib.suppress(OSError):
        client.writer.write(data)
        await client.writer.drain()
        return True
    return False
