"""The connection state machine against the existing codec (HttpReader over a StreamReader) as oracle.

Where they overlap, reading a stream of messages, they must agree on every head, framing,
body byte, trailer and refusal, however the stream is split. Streams are pipelined
requests (or responses to one request) with bodies in each framing, generated and then
mutated where parsers tend to slip. Derandomized, as the llhttp differential test is.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.http import ProtocolError, RequestHead, ResponseHead
from mesh.http.body import Data, EndOfMessage
from mesh.http.connection import (
    Connection,
    ConnectionClosed,
    InformationalResponse,
    Pause,
    Request,
    Response,
    Role,
    State,
)
from mesh.http.differential import split
from mesh.http.headers import Headers
from mesh.http.proxying import keep_alive
from mesh.http.streams import HttpReader

ORACLE = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
Step = tuple[str, object]

NASTY = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b"0", b";", b"Transfer-Encoding: chunked\r\n"]
framings = st.sampled_from(
    [
        (b"", b""),
        (b"Content-Length: 5\r\n", b"hello"),
        (b"Content-Length: 0\r\n", b""),
        (b"Content-Length: 3\r\n", b"abcdef"),
        (b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
        (b"Transfer-Encoding: chunked\r\n", b"1;x=y\r\na\r\n0\r\nT: 1\r\n\r\n"),
        (b"Transfer-Encoding: chunked\r\n", b"3\r\nab\r\n"),
        (b"Transfer-Encoding: gzip, chunked\r\n", b""),
        (b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"ab"),
    ]
)
extras = st.sampled_from([b"", b"Connection: close\r\n", b"X-A: b\r\n", b"Expect: 100-continue\r\n"])


@st.composite
def request_stream(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        fields, body = draw(framings)
        method = draw(st.sampled_from([b"GET", b"POST", b"HEAD"]))
        version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
        out += method + b" / " + version + b"\r\nHost: app\r\n" + fields + draw(extras) + b"\r\n" + body
    return out


@st.composite
def response_stream(draw: st.DrawFn) -> bytes:
    out = b""
    if draw(st.booleans()):
        out += b"HTTP/1.1 100 Continue\r\n\r\n"
    fields, body = draw(framings)
    status = draw(st.sampled_from([200, 204, 304, 404, 500]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    return out + version + b" %d X\r\n" % status + fields + draw(extras) + b"\r\n" + body


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[at:at] = draw(st.sampled_from(NASTY))
        else:
            del data[at : at + draw(st.integers(1, 3))]
    return bytes(data)


cuts = st.lists(st.integers(0, 10_000), max_size=10)


def oracle_requests(raw: bytes) -> list[Step]:
    async def read() -> list[Step]:
        stream = asyncio.StreamReader()
        stream.feed_data(raw)
        stream.feed_eof()
        reader = HttpReader(stream)
        steps: list[Step] = []
        try:
            while True:
                got = await reader.read_request_head()
                if got is None:
                    steps.append(("closed", None))
                    return steps
                head, framing = got
                steps.append(("head", (head, framing)))
                body = b"".join([chunk async for chunk in reader.iter_body(framing)])
                steps.append(("body", (body, reader.trailers)))
                if not keep_alive(head):
                    return steps
        except ProtocolError as exc:
            steps.append(("error", exc))
            return steps

    return asyncio.run(read())


def machine_requests(chunks: list[bytes]) -> list[Step]:
    conn = Connection(Role.SERVER)
    steps: list[Step] = []
    body, pending = b"", list(chunks)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, Pause):
                if conn.their_state in (State.DONE, State.MUST_CLOSE) and conn.our_state is State.IDLE:
                    conn.send_response(ResponseHead(b"1.1", 204, b"", Headers()))
                    if not conn.reusable:
                        return steps
                    conn.start_next_cycle()
                elif pending:
                    conn.receive_data(pending.pop(0))
                else:
                    conn.receive_eof()
            elif isinstance(event, Request):
                steps.append(("head", (event.head, event.framing)))
            elif isinstance(event, Data):
                body += event.data
            elif isinstance(event, EndOfMessage):
                steps.append(("body", (body, event.trailers)))
                body = b""
            elif isinstance(event, ConnectionClosed):
                steps.append(("closed", None))
                return steps
    except ProtocolError as exc:
        steps.append(("error", exc))
        return steps


def oracle_response(raw: bytes, method: bytes) -> list[Step]:
    async def read() -> list[Step]:
        stream = asyncio.StreamReader()
        stream.feed_data(raw)
        stream.feed_eof()
        reader = HttpReader(stream)
        steps: list[Step] = []
        try:
            while True:
                got = await reader.read_response_head(method)
                if got is None:
                    steps.append(("closed", None))
                    return steps
                head, framing = got
                steps.append(("head", (head, framing if head.status >= 200 else None)))
                if head.status >= 200:
                    break
            body = b"".join([chunk async for chunk in reader.iter_body(framing, error_status=502)])
            steps.append(("body", (body, reader.trailers)))
        except ProtocolError as exc:
            steps.append(("error", exc))
        return steps

    return asyncio.run(read())


def machine_response(chunks: list[bytes], method: bytes) -> list[Step]:
    conn = Connection(Role.CLIENT)
    conn.send_request(RequestHead(method, b"/", b"1.1", Headers([(b"Host", b"app")])))
    steps: list[Step] = []
    body, pending = b"", list(chunks)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, Pause):
                if conn.their_state in (State.DONE, State.MUST_CLOSE):
                    return steps
                if pending:
                    conn.receive_data(pending.pop(0))
                else:
                    conn.receive_eof()
            elif isinstance(event, InformationalResponse):
                steps.append(("head", (event.head, None)))
            elif isinstance(event, Response):
                steps.append(("head", (event.head, event.framing)))
            elif isinstance(event, Data):
                body += event.data
            elif isinstance(event, EndOfMessage):
                steps.append(("body", (body, event.trailers)))
                return steps
            else:
                steps.append(("closed", None))
                return steps
    except ProtocolError as exc:
        steps.append(("error", exc))
        return steps


@ORACLE
@given(st.one_of(request_stream(), mutated(request_stream())), cuts)
def test_requests_read_as_the_codec_reads_them(raw: bytes, cuts: list[int]) -> None:
    assert machine_requests(split(raw, cuts)) == oracle_requests(raw)


@ORACLE
@given(st.one_of(response_stream(), mutated(response_stream())), cuts, st.sampled_from([b"GET", b"HEAD"]))
def test_responses_read_as_the_codec_reads_them(raw: bytes, cuts: list[int], method: bytes) -> None:
    assert machine_response(split(raw, cuts), method) == oracle_response(raw, method)
