"""Request bodies kept whole, so a request can be sent more than once (a retry, a mirror copy).

A body is streamed to the upstream as it arrives (exchange.py) unless something needs it again:
then, and only when its Content-Length says it fits within MAX_REPLAY_BODY, it is read whole
before the first attempt (Envoy buffers for retries the same way, within a limit). A bigger
body, or a chunked one whose size is unknown until its end, is streamed as usual: such a request
goes to one upstream only and is not retried once its body has started, nor mirrored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mesh.http import ContentLength, ProtocolError
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.failures import ClientFailed
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.timeouts import request_body_due

MAX_REPLAY_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class BufferedBody:
    data: bytes  # trailers are never kept: they are not forwarded (exchange.py)


async def keep_body(request: IncomingRequest, *, idle: float, allowance: float, limit: int = MAX_REPLAY_BODY) -> bool:
    """Read the body whole when it fits (see the module); True when the request can be sent
    again afterwards. ClientFailed when the client sends a broken, stalled or too slow body
    (`allowance`: timeouts.request_body_due), or leaves."""
    if not request.has_body or request.buffered is not None:
        return True
    framing = request.framing
    if request.body_started or not isinstance(framing, ContentLength) or framing.length > limit:
        return False
    if request.prepared.expect_continue:
        return False  # a body the client holds back for `100 Continue`: only the destination may invite it
    request.body_started = True
    reader = request.client.http
    parts: list[bytes] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    due = request_body_due(started, allowance, 0)
    deadline = request.client.deadline
    try:
        with deadline.at(min(started + idle, due)):
            async for chunk in reader.iter_body(framing, error_status=400):
                parts.append(chunk)
                received += len(chunk)
                due = request_body_due(started, allowance, received)
                deadline.reschedule(min(loop.time() + idle, due))
    except TimeoutError:
        if loop.time() >= due:
            raise ClientFailed(408, Flag.REQUEST_BODY_TIMEOUT, "the request body arrived too slowly") from None
        raise ClientFailed(408, Flag.STREAM_IDLE_TIMEOUT, "the request body stalled") from None
    except ProtocolError as exc:
        if not exc.remote:
            raise
        raise ClientFailed(exc.status_hint, Flag.BAD_REQUEST, exc.reason) from None
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise ClientFailed(0, Flag.DOWNSTREAM_RESET, repr(exc)) from None
    data = b"".join(parts)
    request.buffered = BufferedBody(data)
    request.body_done = True
    request.record.bytes_in += len(data)
    return True
