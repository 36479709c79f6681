"""One HTTP/1.1 connection as a state machine with no I/O: fed bytes, it returns events.

In the manner of h11's `Connection`: the caller owns the socket and hands over what it
read (`receive_data`, `receive_eof`), takes events (`next_event`), and asks for the bytes
of what it wants to send (`send_request`/`send_response`, `send_data`, `send_end`). Every
decision about the connection itself lives here, so it is tested without sockets:
- where each message's body ends (mesh.http.framing: Content-Length, chunked, until close,
  none), read by mesh.http.body's readers, heads by the codec's head readers (llhttp or the
  pure-Python oracle, as `codec` says); every limit and refusal is theirs, unchanged;
- whether the connection carries another message (`reusable`, then `start_next_cycle`);
- 100-continue on both sides (`they_are_waiting_for_100_continue`, `awaiting_continue`);
- protocol switches (a 101 to an upgrade request, a 2xx to CONNECT): both sides go to
  SWITCHED and `trailing_data` hands over the bytes that came after the head.

Each side (ours, theirs) is in one `State`. A message goes IDLE -> BODY -> DONE; DONE
becomes MUST_CLOSE when the message says the connection ends with it (HTTP/1.0,
`Connection: close`, a body delimited by the close). The connection is reusable when both
sides are DONE, and then `start_next_cycle` sets both to IDLE.

Stricter than h11 where a proxy must be (the smuggling and cross-caller rules):
- a final response sent while the client still waits for 100 Continue ends the connection
  (its unread body would be parsed as the next request);
- as a client, any byte from the server while no request is outstanding, or past the end of
  a response, makes the connection unusable (`reusable` False): those bytes would otherwise
  be read as the answer to the next caller's request;
- a 101 to a request that asked for no upgrade is a 502, not a switch;
- after a ProtocolError the side that caused it is ERROR for good: `next_event` raises the
  same error again and nothing more is parsed.
Errors from the peer are ProtocolError(remote=True) with the status to answer (400s for a
request, 502 for a response); asking to send something invalid is ProtocolError(500,
remote=False), our bug.

Pipelined requests are read one at a time: once a request has ended, `next_event` returns
PAUSED (bytes waiting) or NEED_DATA until the response is done and the cycle restarts.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Literal

from mesh.http.body import BodyReader, Data, EndOfMessage, body_reader
from mesh.http.encode import BodyEncoder, encode_request_head, encode_response_head
from mesh.http.errors import ProtocolError
from mesh.http.framing import ContentLength, Framing, NoBody, UntilClose, framing_for_request, framing_for_response
from mesh.http.head_reader import HeadReader, RequestHeadReader, ResponseHeadReader
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.llhttp_head import LlhttpRequestHeadReader, LlhttpResponseHeadReader
from mesh.http.messages import RequestHead, ResponseHead
from mesh.http.proxying import expects_continue, is_upgrade, keep_alive


class Role(enum.Enum):
    """Which end of the connection we are: SERVER reads requests, CLIENT reads responses."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    IDLE = "idle"  # no message under way in this direction
    BODY = "body"  # a head went by, its body has not ended
    DONE = "done"  # the message ended; the connection may carry another
    MUST_CLOSE = "must_close"  # the message ended and the connection ends with it
    CLOSED = "closed"  # this direction is closed (EOF received, or we close)
    SWITCHED = "switched"  # a tunnel now: the bytes are no longer HTTP
    ERROR = "error"  # a ProtocolError happened here; nothing more is read or sent


@dataclass(frozen=True, slots=True)
class Request:
    head: RequestHead
    framing: Framing


@dataclass(frozen=True, slots=True)
class InformationalResponse:
    """A 1xx other than 101; the final response is still to come."""

    head: ResponseHead


@dataclass(frozen=True, slots=True)
class Response:
    """A final response (or the 101 that switches protocols)."""

    head: ResponseHead
    framing: Framing


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side (cleanly, between messages, or after its message)."""


class Pause(enum.Enum):
    NEED_DATA = "need_data"  # nothing complete yet: feed more bytes (or EOF)
    PAUSED = "paused"  # the next message waits for this cycle to end (start_next_cycle)


NEED_DATA = Pause.NEED_DATA
PAUSED = Pause.PAUSED

ConnectionEvent = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
HeadCodec = Literal["llhttp", "python"]

_ENDED = (State.DONE, State.MUST_CLOSE)
_CLOSED = ConnectionClosed()


class Connection:
    """The state of one HTTP/1.1 connection from one end (see the module docstring)."""

    __slots__ = (
        "_body",
        "_buffer",
        "_codec",
        "_eof",
        "_error",
        "_events",
        "_expect_continue",
        "_head_reader",
        "_limits",
        "_method",
        "_our_close",
        "_our_encoder",
        "_their_close",
        "_unsolicited",
        "_upgrade",
        "our_state",
        "role",
        "their_state",
    )

    def __init__(self, role: Role, limits: Limits = DEFAULT_LIMITS, *, codec: HeadCodec = "llhttp") -> None:
        self.role = role
        self.our_state = State.IDLE
        self.their_state = State.IDLE
        self._limits = limits
        self._codec = codec
        self._buffer = b""
        self._eof = False
        self._events: deque[ConnectionEvent] = deque()
        self._error: ProtocolError | None = None
        self._head_reader: HeadReader[RequestHead] | HeadReader[ResponseHead] | None = None
        self._body: BodyReader | None = None
        self._our_encoder: BodyEncoder | None = None
        self._method = b""  # of the request this cycle carries
        self._upgrade = False  # that request asked to switch protocols
        self._expect_continue = False  # that request waits for 100 Continue (until a response)
        self._our_close = False  # what we send ends the connection
        self._their_close = False  # what they send ends the connection
        self._unsolicited = False  # (client) bytes that answer no request of ours

    # -- what the caller asks ---------------------------------------------------------

    @property
    def reusable(self) -> bool:
        """Both messages of this cycle ended and nothing says the connection ends with them."""
        return (
            self.our_state is State.DONE
            and self.their_state is State.DONE
            and not (self._our_close or self._their_close or self._unsolicited)
        )

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        """(server) The client sent `Expect: 100-continue` and no response has gone out yet."""
        return self.role is Role.SERVER and self._expect_continue and self.their_state is State.BODY

    @property
    def awaiting_continue(self) -> bool:
        """(client) We sent `Expect: 100-continue` and no response has come yet."""
        return self.role is Role.CLIENT and self._expect_continue

    @property
    def head_started(self) -> bool:
        """Some of the next head has arrived (a timeout now is a 408, not an idle close)."""
        reader = self._head_reader
        return self.their_state is State.IDLE and (bool(self._buffer) or (reader is not None and reader.started))

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received and not consumed, and whether EOF came after them (for a tunnel)."""
        return self._buffer, self._eof

    def take_trailing_data(self) -> bytes:
        data, self._buffer = self._buffer, b""
        return data

    # -- receiving ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the peer; they become events at `next_event`."""
        if self._eof:
            raise ProtocolError(500, "data received after EOF", remote=False)
        if not data:
            return
        if self.role is Role.CLIENT and self.our_state is State.IDLE and self.their_state is not State.SWITCHED:
            self._unsolicited = True  # no request of ours is outstanding: they answer nobody
        self._buffer = self._buffer + data if self._buffer else data

    def receive_eof(self) -> None:
        """The peer closed its sending side."""
        self._eof = True

    def next_event(self) -> ConnectionEvent | Pause:
        """The next event the bytes received so far complete, NEED_DATA, or PAUSED.

        Raises ProtocolError (remote) for what the peer sent, again on every later call.
        """
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: ProtocolError) -> None:
        self._error = exc
        self.their_state = State.ERROR
        self._head_reader = self._body = None

    def _next(self) -> ConnectionEvent | Pause:
        state = self.their_state
        if state is State.BODY:
            return self._read_body()
        if state is State.IDLE:
            if self.role is Role.CLIENT:
                if self._unsolicited:
                    raise ProtocolError(502, "bytes from the upstream that answer no request")
                if self.our_state is State.IDLE:
                    return self._closed() if self._eof else NEED_DATA
            return self._read_head()
        if state in _ENDED:
            if self.role is Role.CLIENT and self._buffer:
                self._unsolicited = True  # past the end of the response: nobody's answer
            if self._eof and not self._buffer:
                return self._closed()
            return PAUSED if self._buffer else NEED_DATA
        if state is State.SWITCHED:
            return PAUSED
        return NEED_DATA if state is State.CLOSED else PAUSED

    def _closed(self) -> ConnectionClosed:
        self.their_state = State.CLOSED
        return _CLOSED

    def _read_head(self) -> ConnectionEvent | Pause:
        reader = self._head_reader
        if reader is None:
            reader = self._new_head_reader()
        data, self._buffer = self._buffer, b""
        got = reader.feed(data) if data else None
        if got is None:
            if not self._eof:
                return NEED_DATA
            reader.feed_eof()  # raises when a head had started
            self._head_reader = None
            return self._closed()
        head, self._buffer = got
        self._head_reader = None
        if isinstance(head, RequestHead):
            return self._request(head)
        return self._response(head)

    def _new_head_reader(self) -> HeadReader[RequestHead] | HeadReader[ResponseHead]:
        reader: HeadReader[RequestHead] | HeadReader[ResponseHead]
        if self.role is Role.SERVER:
            reader = (
                LlhttpRequestHeadReader(self._limits) if self._codec == "llhttp" else RequestHeadReader(self._limits)
            )
        else:
            reader = (
                LlhttpResponseHeadReader(self._limits) if self._codec == "llhttp" else ResponseHeadReader(self._limits)
            )
        self._head_reader = reader
        return reader

    def _request(self, head: RequestHead) -> Request:
        framing = framing_for_request(head)
        self._method = head.method
        self._upgrade = is_upgrade(head) or head.method == b"CONNECT"
        self._expect_continue = expects_continue(head)
        self._their_close = not keep_alive(head)
        self._start_body(framing, 400)
        return Request(head, framing)

    def _response(self, head: ResponseHead) -> InformationalResponse | Response:
        status = head.status
        self._expect_continue = False  # any response ends the wait, 1xx or final
        if status == 101:
            if not self._upgrade or self._method == b"CONNECT":
                raise ProtocolError(502, "101 Switching Protocols to a request that asked for no upgrade")
            if self.our_state is not State.DONE:
                raise ProtocolError(502, "101 Switching Protocols before the request ended")
            self._switch()
            return Response(head, NoBody())
        if status < 200:
            return InformationalResponse(head)
        framing = framing_for_response(self._method, head)
        if self._method == b"CONNECT" and status < 300:
            if self.our_state is not State.DONE:
                raise ProtocolError(502, "CONNECT answered before the request ended")
            self._switch()
            return Response(head, framing)
        self._their_close = not keep_alive(head) or isinstance(framing, UntilClose)
        if self.our_state is not State.DONE:
            self._their_close = True  # answered before our request ended: the rest of it is unread
        self._start_body(framing, 502)
        return Response(head, framing)

    def _switch(self) -> None:
        self.their_state = self.our_state = State.SWITCHED
        self._body = self._our_encoder = None

    def _start_body(self, framing: Framing, error_status: int) -> None:
        if isinstance(framing, NoBody) or (isinstance(framing, ContentLength) and not framing.length):
            self._events.append(EndOfMessage())
            self._body = None
            self._their_done()
            return
        self._body = body_reader(framing, self._limits, error_status=error_status)
        self.their_state = State.BODY

    def _read_body(self) -> ConnectionEvent | Pause:
        reader = self._body
        assert reader is not None
        data, self._buffer = self._buffer, b""
        if data:
            events = reader.feed(data)
        elif self._eof:
            events = reader.feed_eof()  # raises when the body was cut short
        else:
            return NEED_DATA
        if reader.done:
            self._buffer = reader.leftover
            self._body = None
            self._their_done()
        for event in events:
            if not isinstance(event, Data) or event.data:
                self._events.append(event)
        if self._events:
            return self._events.popleft()
        return self._next()

    def _their_done(self) -> None:
        self.their_state = State.MUST_CLOSE if self._their_close else State.DONE
        if self.role is Role.SERVER:
            self._expect_continue = False
        elif self._buffer:
            self._unsolicited = True  # past the end of the response: nobody's answer

    # -- sending -----------------------------------------------------------------------

    def send_request(self, head: RequestHead) -> bytes:
        """(client) The encoded head; its body follows through send_data / send_end."""
        if self.role is not Role.CLIENT or self.our_state is not State.IDLE or self.their_state is not State.IDLE:
            raise ProtocolError(500, f"cannot send a request now (ours {self.our_state.value})", remote=False)
        if self._unsolicited:
            raise ProtocolError(500, "cannot send a request: the connection received bytes while idle", remote=False)
        framing = _local_framing(head, b"")
        out = encode_request_head(head)
        self._method = head.method
        self._upgrade = is_upgrade(head) or head.method == b"CONNECT"
        self._expect_continue = expects_continue(head)
        self._our_close = not keep_alive(head) or isinstance(framing, UntilClose)
        self._start_sending(framing)
        return out

    def send_response(self, head: ResponseHead) -> bytes:
        """(server) The encoded head, 1xx included; a final head's body follows through send_data / send_end."""
        if self.role is not Role.SERVER or self.our_state is not State.IDLE or self.their_state is State.IDLE:
            raise ProtocolError(500, f"cannot send a response now (ours {self.our_state.value})", remote=False)
        status = head.status
        if status == 101:
            if not self._upgrade or self._method == b"CONNECT" or self.their_state is not State.DONE:
                raise ProtocolError(500, "101 to a request that asked for no upgrade or has not ended", remote=False)
            out = encode_response_head(head)
            self._switch()
            return out
        out = encode_response_head(head)
        if status < 200:
            if status == 100:
                self._expect_continue = False
            return out
        framing = _local_framing(head, self._method)
        if self._method == b"CONNECT" and status < 300:
            if self.their_state is not State.DONE:
                raise ProtocolError(500, "CONNECT answered before the request ended", remote=False)
            self._switch()
            return out
        waiting = self.they_are_waiting_for_100_continue
        self._expect_continue = False
        self._our_close = waiting or self._their_close or not keep_alive(head) or isinstance(framing, UntilClose)
        self._start_sending(framing)
        return out

    def send_data(self, data: bytes) -> bytes:
        """Body bytes framed for the wire (a chunk when chunked)."""
        encoder = self._our_encoder
        if self.our_state is not State.BODY or encoder is None:
            raise ProtocolError(500, f"cannot send body bytes now (ours {self.our_state.value})", remote=False)
        return encoder.encode(data)

    def send_end(self, trailers: Headers = EMPTY_HEADERS) -> bytes:
        """The bytes that end our message; trailers go out on a chunked body only."""
        encoder = self._our_encoder
        if self.our_state is not State.BODY or encoder is None:
            raise ProtocolError(500, f"cannot end a message now (ours {self.our_state.value})", remote=False)
        out = encoder.finish(trailers)
        self._our_encoder = None
        self._our_done()
        return out

    def send_close(self) -> None:
        """We are closing the connection (whatever state it is in)."""
        self.our_state = State.CLOSED
        self._our_encoder = None

    def start_next_cycle(self) -> None:
        """Both messages ended and the connection is reusable: back to IDLE on both sides."""
        if not self.reusable:
            raise ProtocolError(
                500,
                f"connection not reusable (ours {self.our_state.value}, theirs {self.their_state.value})",
                remote=False,
            )
        self.our_state = self.their_state = State.IDLE
        self._method = b""
        self._upgrade = self._expect_continue = self._our_close = self._their_close = False

    def _start_sending(self, framing: Framing) -> None:
        if isinstance(framing, NoBody) or (isinstance(framing, ContentLength) and not framing.length):
            self._our_encoder = None
            self._our_done()
            return
        self._our_encoder = BodyEncoder(framing)
        self.our_state = State.BODY

    def _our_done(self) -> None:
        self.our_state = State.MUST_CLOSE if self._our_close else State.DONE


def _local_framing(head: RequestHead | ResponseHead, request_method: bytes) -> Framing:
    """The framing the peer will read `head` with; a head that cannot be framed is our error."""
    try:
        if isinstance(head, RequestHead):
            return framing_for_request(head)
        return framing_for_response(request_method, head)
    except ProtocolError as exc:
        raise ProtocolError(500, f"cannot send that head: {exc.reason}", remote=False) from None
