"""One request/response exchange over an upstream connection, streamed in both directions.

The request body is sent by its own task while the response head is awaited, so an app
that answers early (a 413, a 401) or streams its answer while still reading (an echo) is
served as it behaves; neither body is ever held whole in memory. Framing is decided by
the codec and re-applied on each side (`outgoing_framing`, `with_framing_headers`): the
received framing fields are never forwarded as such.

Until the response head is written to the client, a failure raises (ExchangeFailed for
the upstream's side, ClientFailed for the client's) and the listener answers it. After
that nothing can be answered any more: both connections are dropped and the record says
why. A connection is reported reusable only when the exchange ended exactly at a message
boundary on it; the upstream connection is closed here when it is not.

Trailers (the fields after a chunked body's last chunk) are dropped in both directions, as
Envoy's HTTP/1 codec does unless told otherwise: they arrive after the request was authorized
and routed, so nothing checked them, and a trailer named like a field the mesh sets
(`x-forwarded-client-cert`, `authorization`) would reach the app unchecked.

`Expect: 100-continue` is answered by the destination's agent, the one that authorizes the
request: it sends `100 Continue` itself once it is about to forward the body to its app (Envoy's
default; the app never sees the Expect). The caller's agent has authorized nothing, so it must
not invite the body: with `relay_continue` it forwards the Expect, relays the upstream's 100 and
only then reads the body; a refusal (a 403 from an intention, a 429) arrives instead of the 100,
the body is never read, and both connections end with that response.

For retries (mesh.proxy.http.retrying) an exchange can send a body kept whole beforehand
(request_body.py) instead of streaming the client's, wait for the response head until the
request's deadline rather than for a per-attempt time, and withhold a response the caller
will not relay: its body is then read and dropped (when small) so the connection stays usable.

The waits in the client connection's task (reading ahead, the response head, relaying the
response body, discarding one) arm that connection's `Deadline` one after another
(mesh.proxy.http.deadlines); the request body's task, and a wait nested in another, have
their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TypeVar

from mesh.http import (
    HTTP_11,
    ContentLength,
    Framing,
    Headers,
    ProtocolError,
    RequestHead,
    ResponseHead,
    UntilClose,
    encode_response_head,
    keep_alive,
    outgoing_framing,
    strip_hop_by_hop,
    upgrade_protocols,
    with_framing_headers,
)
from mesh.http.streams import BodyWriter, HttpReader, write_head
from mesh.proxy.http.deadlines import Deadline
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.failures import ClientFailed, ExchangeFailed
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.local_replies import CONTINUE
from mesh.proxy.http.normalize import WEBSOCKET
from mesh.proxy.http.pool import UpstreamConnection
from mesh.proxy.http.timeouts import (
    EARLY_RESPONSE_GRACE,
    UpstreamTimeouts,
    request_body_allowance,
    request_body_due,
)

if TYPE_CHECKING:
    from mesh.proxy.http.request_body import BufferedBody

T = TypeVar("T")
EditHeaders = Callable[[Headers], Headers]
Withhold = Callable[[ResponseHead], bool]
# A withheld response's body is read and dropped to keep the connection when it is this small
# and arrives this fast; otherwise the connection is closed (a new one costs less than waiting).
DISCARD_LIMIT = 64 * 1024
DISCARD_TIME = 1.0
# Interim (1xx) responses relayed per request. Real servers send one or two (a 100, a 103 Early
# Hints); past this the upstream is streaming heads at us and the exchange fails (502,
# upstream_protocol_error), so a caller that does not read cannot make us hold them.
MAX_INTERIM_RESPONSES = 8
Where = Literal["source", "sink", "source_stalled", "source_slow", "sink_stalled"]


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    client_reusable: bool  # the client connection is at a message boundary and may carry another request
    upstream_reusable: bool  # the upstream connection may go back to its pool
    upgraded: bool = False  # a 101 was relayed: call `tunnel.tunnel` next
    status: int = 0  # the upstream's final response status
    withheld: bool = False  # the response was not relayed (`withhold` said so); the client has nothing yet


class BodyFailure(Exception):
    """A body stopped short: the side that failed (source read, sink write) or stalled."""

    def __init__(self, where: Where, cause: BaseException | None = None) -> None:
        self.where = where
        self.cause = cause
        super().__init__(f"{where}: {cause!r}")


class BodySource:
    """One body being read from `reader`: its chunks, and bytes already read ahead of the sink."""

    __slots__ = ("allowance", "chunks", "paced", "pending", "reader", "started")

    def __init__(
        self, reader: HttpReader, framing: Framing, *, error_status: int, allowance: float | None = None
    ) -> None:
        self.reader = reader
        # pump_body closes the generator whatever happens.
        self.chunks = reader.iter_body(framing, error_status=error_status)
        self.pending = b""
        # A request body's pace (timeouts.request_body_due): it must be complete by a deadline
        # that only the bytes it brings extend. None for a response body (the idle timer only).
        self.allowance = allowance
        self.started = asyncio.get_running_loop().time() if allowance is not None else 0.0
        self.paced = False  # the last `until` was the body's pace rather than the idle timer

    def until(self, now: float, idle: float, received: int) -> float:
        """When reading must give up, `received` bytes in."""
        if self.allowance is None:
            return now + idle
        due = request_body_due(self.started, self.allowance, received)
        self.paced = due < now + idle
        return due if self.paced else now + idle

    async def read_ahead(self, idle: float, deadline: Deadline) -> None:
        """Read the body's first piece now; BodyFailure("source"...) if it is malformed or stalls.

        Everything that arrived with the head is parsed at once, so a request whose framing
        is broken in its first bytes (the shape of a smuggling attempt) is refused before
        its head is sent anywhere, and never reaches the app.
        """
        try:
            with deadline.at(self.until(asyncio.get_running_loop().time(), idle, 0)):
                self.pending = await anext(self.chunks, b"")
        except TimeoutError:
            await self.chunks.aclose()
            raise BodyFailure("source_slow" if self.paced else "source_stalled") from None
        except (ProtocolError, OSError, asyncio.IncompleteReadError) as exc:
            await self.chunks.aclose()
            if isinstance(exc, ProtocolError) and not exc.remote:
                raise
            raise BodyFailure("source", exc) from None


async def pump_body(
    source: BodySource,
    sink: asyncio.StreamWriter,
    outgoing: Framing,
    *,
    idle: float,
    on_data: Callable[[int], None],
    deadline: Deadline,
    head: bytes = b"",
) -> None:
    """Copy one body, re-framed, with backpressure; BodyFailure when either side fails or stalls.

    `deadline`: armed for the copy (the task's own). `head`: an encoded head to send with the
    body's first bytes (see BodyWriter's `prefix`).
    """
    writer = BodyWriter(sink, outgoing, prefix=head)
    loop = asyncio.get_running_loop()
    reading = False
    received = 0
    try:
        with deadline.at(source.until(loop.time(), idle, 0)):
            async with contextlib.aclosing(source.chunks) as chunks:
                chunk, source.pending = source.pending, b""
                while True:
                    if chunk:
                        on_data(len(chunk))
                        received += len(chunk)
                        reading = False
                        await writer.write(chunk)
                        deadline.reschedule(source.until(loop.time(), idle, received))
                    reading = True
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                reading = False
                await writer.finish()  # trailers dropped (see the module docstring)
    except TimeoutError:
        if not reading:
            raise BodyFailure("sink_stalled") from None
        raise BodyFailure("source_slow" if source.paced else "source_stalled") from None
    except ProtocolError as exc:
        if not exc.remote:
            raise
        raise BodyFailure("source", exc) from None
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise BodyFailure("source" if reading else "sink", exc) from None


async def exchange(
    request: IncomingRequest,
    outgoing: RequestHead,
    upstream: UpstreamConnection,
    timeouts: UpstreamTimeouts,
    *,
    close_client: bool,
    edit_response: EditHeaders | None = None,
    deadline: float | None = None,
    withhold: Withhold | None = None,
    relay_continue: bool = False,
) -> ExchangeResult:
    """Send `outgoing` (the request as authorized and routed) and relay the response to the client.

    `close_client`: this is the last response on the client connection (draining, or the
    listener's choice); the response then says `Connection: close`. `edit_response` changes
    a final response's end-to-end fields (a route's ResponseHeaders, a hash-policy cookie).
    `deadline` (event-loop time): the response head must arrive by then, instead of within
    `timeouts.request` of the request being sent. `withhold`: asked about the final response
    head; True keeps the response from the client (the result says `withheld`). `relay_continue`:
    a client's `Expect: 100-continue` is the upstream's to answer (see the module docstring).
    """
    body_task: asyncio.Task[None] | None = None
    try:
        kept = request.buffered
        to_upstream = outgoing_framing(request.framing)
        headers = with_framing_headers(outgoing.headers, to_upstream)
        body: BodySource | None = None
        if relay_continue and kept is None and request.has_body and request.prepared.expect_continue:
            headers = headers.with_added(b"Expect", b"100-continue")
            write_head(upstream.writer, RequestHead(outgoing.method, outgoing.target, HTTP_11, headers))
            answered = await _instead_of_continue(request, upstream, timeouts, deadline)
            if answered is not None:
                # Refused (or answered) before the body was invited: it is never read.
                response, framing = answered
                return await _final_response(
                    request,
                    upstream,
                    response,
                    framing,
                    None,
                    timeouts,
                    close_client,
                    edit_response,
                    withhold,
                    sent=False,
                )
            body = await _request_body(request, timeouts)  # it says `100 Continue` to the client
        else:
            if request.has_body and kept is None:
                body = await _request_body(request, timeouts)
            write_head(upstream.writer, RequestHead(outgoing.method, outgoing.target, HTTP_11, headers))
        if kept is not None and request.has_body:
            body_task = asyncio.create_task(_send_kept_body(kept, upstream, to_upstream, timeouts.stream_idle))
            body_task.add_done_callback(_retrieve)
        elif body is not None:
            body_task = asyncio.create_task(_send_request_body(request, body, upstream, to_upstream, timeouts))
            body_task.add_done_callback(_retrieve)
        response, framing = await _head_by(deadline, request, upstream, body_task, timeouts)
        return await _final_response(
            request, upstream, response, framing, body_task, timeouts, close_client, edit_response, withhold, sent=True
        )
    except BaseException:
        upstream.abort()
        if body_task is not None:
            body_task.cancel()
        raise


async def _head_by(
    deadline: float | None,
    request: IncomingRequest,
    upstream: UpstreamConnection,
    body_task: asyncio.Task[None] | None,
    timeouts: UpstreamTimeouts,
    *,
    until_continue: bool = False,
) -> tuple[ResponseHead, Framing]:
    """The response head, by the request's deadline when it has one (else its own timeouts)."""
    if deadline is None:
        return await _response_head(request, upstream, body_task, timeouts, until_continue=until_continue)
    unbounded = replace(timeouts, request=None)
    waiting = _response_head(request, upstream, body_task, unbounded, until_continue=until_continue)
    return await _by_deadline(request.client.deadline, deadline, waiting)


async def _instead_of_continue(
    request: IncomingRequest, upstream: UpstreamConnection, timeouts: UpstreamTimeouts, deadline: float | None
) -> tuple[ResponseHead, Framing] | None:
    """None once the upstream said `100 Continue`; else the final response it sent instead."""
    head, framing = await _head_by(deadline, request, upstream, None, timeouts, until_continue=True)
    return None if head.status == 100 else (head, framing)


async def _final_response(
    request: IncomingRequest,
    upstream: UpstreamConnection,
    response: ResponseHead,
    framing: Framing,
    body_task: asyncio.Task[None] | None,
    timeouts: UpstreamTimeouts,
    close_client: bool,
    edit_response: EditHeaders | None,
    withhold: Withhold | None,
    *,
    sent: bool,
) -> ExchangeResult:
    """`sent`: False when the request body was never sent (the upstream answered instead of a 100)."""
    if response.status == 101:
        return _switch_protocols(request, response, body_task)
    if withhold is not None and withhold(response):
        if not sent:
            upstream.abort()
            return ExchangeResult(client_reusable=False, upstream_reusable=False, status=response.status, withheld=True)
        return await _discard_response(request.client.deadline, upstream, response, framing, body_task)
    if edit_response is not None:
        response = replace(response, headers=edit_response(response.headers))
    return await _relay_response(request, upstream, response, framing, body_task, timeouts, close_client, sent=sent)


async def _request_body(request: IncomingRequest, timeouts: UpstreamTimeouts) -> BodySource:
    """The request body, its first piece read (after `100 Continue`, when the client waits for one)."""
    if request.prepared.expect_continue and not request.continued:
        request.client.writer.write(CONTINUE)
        request.continued = True
    request.body_started = True
    allowance = request_body_allowance(timeouts)
    body = BodySource(request.client.http, request.framing, error_status=400, allowance=allowance)
    try:
        await body.read_ahead(timeouts.stream_idle, request.client.deadline)
    except BodyFailure as failure:
        raise _client_failure(failure) from None
    return body


async def _send_kept_body(body: BufferedBody, upstream: UpstreamConnection, framing: Framing, idle: float) -> None:
    writer = BodyWriter(upstream.writer, framing)
    try:
        with Deadline().after(idle):  # this task's own
            await writer.write(body.data)
            await writer.finish()
    except TimeoutError:
        raise BodyFailure("sink_stalled") from None
    except OSError as exc:
        raise BodyFailure("sink", exc) from None


async def _send_request_body(
    request: IncomingRequest,
    body: BodySource,
    upstream: UpstreamConnection,
    framing: Framing,
    timeouts: UpstreamTimeouts,
) -> None:
    record = request.record

    def count(n: int) -> None:
        record.bytes_in += n

    await pump_body(body, upstream.writer, framing, idle=timeouts.stream_idle, on_data=count, deadline=Deadline())
    request.body_done = True


async def _response_head(
    request: IncomingRequest,
    upstream: UpstreamConnection,
    body_task: asyncio.Task[None] | None,
    timeouts: UpstreamTimeouts,
    *,
    until_continue: bool = False,
) -> tuple[ResponseHead, Framing]:
    if body_task is None:
        try:
            await upstream.writer.drain()
        except OSError as exc:
            raise ExchangeFailed(
                502, Flag.UPSTREAM_RESET, f"sending the request: {exc!r}", before_response=True
            ) from None
        waiting = _final_head(request, upstream, timeouts.stream_idle, until_continue=until_continue)
        return await _within(request.client.deadline, timeouts.request, waiting)
    head_task = asyncio.create_task(_final_head(request, upstream, timeouts.stream_idle))
    head_task.add_done_callback(_retrieve)
    try:
        await asyncio.wait((head_task, body_task), return_when=asyncio.FIRST_COMPLETED)
        if head_task.done():
            return head_task.result()
        failure = body_task.exception()
        if isinstance(failure, BodyFailure) and failure.where in ("source", "source_stalled", "source_slow"):
            raise _client_failure(failure)
        if isinstance(failure, BodyFailure) and failure.where == "sink_stalled":
            raise ExchangeFailed(504, Flag.STREAM_IDLE_TIMEOUT, "the upstream stopped reading the request body")
        # Sent, or the upstream stopped reading (its early answer, or its close, comes next).
        # The request timeout runs from here, as Envoy's route timeout does.
        return await _within(request.client.deadline, timeouts.request, head_task)
    finally:
        if not head_task.done():
            head_task.cancel()


async def _final_head(
    request: IncomingRequest, upstream: UpstreamConnection, idle: float, *, until_continue: bool = False
) -> tuple[ResponseHead, Framing]:
    """The final response head (or a 101); interim 1xx are relayed to HTTP/1.1 clients.

    A 100 is dropped (the client's Expect, if any, was answered already), or returned when
    `until_continue` (the upstream is the one to invite the body).
    At most MAX_INTERIM_RESPONSES are taken, each written with backpressure: a client that
    does not read holds the next one back (until `idle`), so nothing piles up in our buffers.
    """
    method = request.prepared.head.method
    to_http11 = request.prepared.head.version == HTTP_11
    interim = 0
    while True:
        try:
            got = await upstream.http.read_response_head(method)
        except ProtocolError as exc:
            raise ExchangeFailed(502, Flag.UPSTREAM_PROTOCOL_ERROR, exc.reason) from None
        except OSError as exc:
            started = upstream.http.head_started
            raise ExchangeFailed(502, Flag.UPSTREAM_RESET, repr(exc), before_response=not started) from None
        if got is None:
            raise ExchangeFailed(502, Flag.UPSTREAM_RESET, "closed before responding", before_response=True)
        head, framing = got
        if head.status >= 200 or head.status == 101 or (head.status == 100 and until_continue):
            return head, framing
        interim += 1
        if interim > MAX_INTERIM_RESPONSES:
            raise ExchangeFailed(
                502, Flag.UPSTREAM_PROTOCOL_ERROR, f"more than {MAX_INTERIM_RESPONSES} interim responses"
            )
        if head.status != 100 and to_http11:
            write_head(
                request.client.writer, ResponseHead(HTTP_11, head.status, head.reason, strip_hop_by_hop(head.headers))
            )
            try:
                # Its own: this may run in its own task, or in the client's within the head's deadline.
                with Deadline().after(idle):
                    await request.client.writer.drain()
            except (TimeoutError, OSError) as exc:
                # Nothing more can be said to this client: the connection just ends.
                raise ClientFailed(0, Flag.DOWNSTREAM_RESET, f"relaying an interim response: {exc!r}") from None


def _switch_protocols(
    request: IncomingRequest, response: ResponseHead, body_task: asyncio.Task[None] | None
) -> ExchangeResult:
    if not request.prepared.websocket or upgrade_protocols(response) != [WEBSOCKET] or body_task is not None:
        raise ExchangeFailed(502, Flag.UPSTREAM_PROTOCOL_ERROR, "101 Switching Protocols to something not asked for")
    headers = strip_hop_by_hop(response.headers, keep_upgrade=True)
    write_head(request.client.writer, ResponseHead(HTTP_11, 101, response.reason, headers))
    request.record.status = 101
    request.record.flags.append(Flag.UPGRADED)
    return ExchangeResult(client_reusable=False, upstream_reusable=False, upgraded=True, status=101)


async def _relay_response(
    request: IncomingRequest,
    upstream: UpstreamConnection,
    response: ResponseHead,
    framing: Framing,
    body_task: asyncio.Task[None] | None,
    timeouts: UpstreamTimeouts,
    close_client: bool,
    *,
    sent: bool = True,
) -> ExchangeResult:
    client, record = request.client, request.record
    to_client = outgoing_framing(framing, request.prepared.head.version)
    # A body never sent is never read either: the client's next bytes would be that body.
    close = close_client or not sent or not request.prepared.keep_alive or isinstance(to_client, UntilClose)
    headers = with_framing_headers(strip_hop_by_hop(response.headers), to_client)
    if close:
        headers = headers.with_set(b"Connection", b"close")
    head = encode_response_head(ResponseHead(HTTP_11, response.status, response.reason, headers))
    # A body that came in with the head (the common small response) goes out in one write with
    # it; nothing awaits before pump_body writes them. A body still to come must not hold the head.
    with_body = isinstance(framing, ContentLength) and framing.length > 0 and upstream.http.has_buffered
    record.status = response.status
    whole = upstream.http.take_whole_body(framing.length) if with_body and isinstance(framing, ContentLength) else None
    if whole is not None:
        # All of it is here: head and body in one write, and only the drain to wait for.
        client.writer.write(head + whole)
        record.bytes_out += len(whole)
        try:
            with client.deadline.after(timeouts.stream_idle):
                await client.writer.drain()
        except (TimeoutError, OSError) as exc:
            failure = BodyFailure("sink_stalled" if isinstance(exc, TimeoutError) else "sink", exc)
            return _relay_failed(request, upstream, response, failure, body_task)
        return await _after_relay(request, upstream, response, framing, body_task, close, sent)
    if not with_body:
        client.writer.write(head)

    def count(n: int) -> None:
        record.bytes_out += n

    try:
        body = BodySource(upstream.http, framing, error_status=502)
        await pump_body(
            body,
            client.writer,
            to_client,
            idle=timeouts.stream_idle,
            on_data=count,
            deadline=client.deadline,
            head=head if with_body else b"",
        )
    except BodyFailure as failure:
        return _relay_failed(request, upstream, response, failure, body_task)
    return await _after_relay(request, upstream, response, framing, body_task, close, sent)


def _relay_failed(
    request: IncomingRequest,
    upstream: UpstreamConnection,
    response: ResponseHead,
    failure: BodyFailure,
    body_task: asyncio.Task[None] | None,
) -> ExchangeResult:
    """The response broke off after its head went out: nothing can be answered, both connections end."""
    request.record.flags.append(_response_flag(failure, upstream_closed=upstream.reader.at_eof()))
    upstream.abort()
    request.client.writer.transport.abort()
    if body_task is not None:
        body_task.cancel()
    return ExchangeResult(client_reusable=False, upstream_reusable=False, status=response.status)


async def _after_relay(
    request: IncomingRequest,
    upstream: UpstreamConnection,
    response: ResponseHead,
    framing: Framing,
    body_task: asyncio.Task[None] | None,
    close: bool,
    sent: bool,
) -> ExchangeResult:
    """The response relayed whole: whether each connection may carry another exchange."""
    request_sent = sent and await _settle(body_task)
    upstream.exchanges += 1
    reusable = (
        request_sent
        and keep_alive(response)
        and not isinstance(framing, UntilClose)
        and not upstream.http.take_buffered()  # bytes past the response: where would the next one start?
    )
    if not reusable:
        upstream.abort()
    return ExchangeResult(
        client_reusable=not close and request.body_settled(), upstream_reusable=reusable, status=response.status
    )


async def _discard_response(
    deadline: Deadline,
    upstream: UpstreamConnection,
    response: ResponseHead,
    framing: Framing,
    body_task: asyncio.Task[None] | None,
) -> ExchangeResult:
    """Drop a withheld response; keep the connection if its body is small and quick to skip."""
    reusable = False
    if keep_alive(response) and not isinstance(framing, UntilClose):
        chunks = upstream.http.iter_body(framing, error_status=502)
        size = 0
        try:
            with deadline.after(DISCARD_TIME):
                async with contextlib.aclosing(chunks):
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > DISCARD_LIMIT:
                            break
            reusable = size <= DISCARD_LIMIT and await _settle(body_task) and not upstream.http.take_buffered()
        except (TimeoutError, ProtocolError, OSError, asyncio.IncompleteReadError):
            reusable = False
    if reusable:
        upstream.exchanges += 1
    else:
        upstream.abort()
        if body_task is not None:
            body_task.cancel()
    return ExchangeResult(client_reusable=True, upstream_reusable=reusable, status=response.status, withheld=True)


async def _settle(body_task: asyncio.Task[None] | None) -> bool:
    """True when the request body was sent whole; an unfinished one is given up after a grace period."""
    if body_task is None:
        return True
    if not body_task.done():
        await asyncio.wait((body_task,), timeout=EARLY_RESPONSE_GRACE)
    if not body_task.done():
        body_task.cancel()
        return False
    return not body_task.cancelled() and body_task.exception() is None


async def _within(deadline: Deadline, seconds: float | None, waiting: Awaitable[T]) -> T:
    if seconds is None:
        return await waiting
    try:
        with deadline.after(seconds):
            return await waiting
    except TimeoutError:
        raise ExchangeFailed(504, Flag.REQUEST_TIMEOUT, f"no response within {seconds:g}s") from None


async def _by_deadline(deadline: Deadline, when: float, waiting: Awaitable[T]) -> T:
    try:
        with deadline.at(when):
            return await waiting
    except TimeoutError:
        raise ExchangeFailed(504, Flag.REQUEST_TIMEOUT, "no response within the request timeout") from None


def _client_failure(failure: BodyFailure) -> ClientFailed:
    if failure.where == "source_stalled":
        return ClientFailed(408, Flag.STREAM_IDLE_TIMEOUT, "the request body stalled")
    if failure.where == "source_slow":
        return ClientFailed(408, Flag.REQUEST_BODY_TIMEOUT, "the request body arrived too slowly")
    cause = failure.cause
    if isinstance(cause, ProtocolError):
        return ClientFailed(cause.status_hint, Flag.BAD_REQUEST, cause.reason)
    return ClientFailed(0, Flag.DOWNSTREAM_RESET, repr(cause))


def _response_flag(failure: BodyFailure, *, upstream_closed: bool) -> Flag:
    if failure.where == "source":
        # A body cut by the upstream's close is a reset; bytes that cannot be framed are its error.
        malformed = isinstance(failure.cause, ProtocolError) and not upstream_closed
        return Flag.UPSTREAM_PROTOCOL_ERROR if malformed else Flag.UPSTREAM_RESET
    if failure.where == "sink":
        return Flag.DOWNSTREAM_RESET
    return Flag.STREAM_IDLE_TIMEOUT


def _retrieve(task: asyncio.Task[object]) -> None:
    # A head read abandoned after a client failure may still end in an error: mark it seen.
    if not task.cancelled():
        task.exception()
