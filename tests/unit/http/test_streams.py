"""The asyncio layer over real StreamReaders (fed by hand) and a real socket pair for writes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from mesh.http import CHUNKED, NO_BODY, UNTIL_CLOSE, ContentLength, Framing, Headers, ProtocolError, RequestHead
from mesh.http.streams import BodyWriter, HttpReader, forward_body, write_body, write_head


def stream_of(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    if eof:
        stream.feed_eof()
    return stream


async def body_of(reader: HttpReader, framing: Framing, error_status: int = 400) -> bytes:
    return b"".join([c async for c in reader.iter_body(framing, error_status=error_status)])


async def test_pipelined_requests_are_read_one_after_another_without_losing_bytes() -> None:
    reader = HttpReader(
        stream_of(
            b"POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: app\r\n\r\n"
        )
    )
    first = await reader.read_request_head()
    assert first is not None
    assert (first[0].target, first[1]) == (b"/a", ContentLength(5))
    assert await body_of(reader, first[1]) == b"hello"
    second = await reader.read_request_head()
    assert second is not None
    assert (second[0].target, second[1]) == (b"/b", NO_BODY)
    assert await reader.read_request_head() is None


async def test_a_head_split_across_reads_is_assembled() -> None:
    reader = HttpReader(stream_of(b"GET / HT", b"TP/1.1\r\nHo", b"st: app\r\n", b"\r\n"), read_size=4)
    got = await reader.read_request_head()
    assert got is not None
    assert got[0].headers.get(b"host") == b"app"


async def test_a_clean_close_before_any_byte_is_not_an_error() -> None:
    assert await HttpReader(stream_of()).read_request_head() is None
    assert await HttpReader(stream_of(b"\r\n")).read_request_head() is None


async def test_a_close_in_the_middle_of_a_head_is_a_truncated_request() -> None:
    with pytest.raises(ProtocolError, match="closed in the middle") as caught:
        await HttpReader(stream_of(b"GET / HTTP/1.1\r\nHost: a")).read_request_head()
    assert caught.value.status_hint == 400


async def test_a_close_in_the_middle_of_a_body_is_a_truncated_body() -> None:
    reader = HttpReader(stream_of(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nshort"))
    got = await reader.read_request_head()
    assert got is not None
    with pytest.raises(ProtocolError, match="before the end of the body"):
        await body_of(reader, got[1])


async def test_an_invalid_head_raises_with_its_status_hint() -> None:
    with pytest.raises(ProtocolError) as caught:
        await HttpReader(
            stream_of(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")
        ).read_request_head()
    assert caught.value.status_hint == 400


async def test_a_chunked_body_yields_its_data_and_then_its_trailers() -> None:
    reader = HttpReader(
        stream_of(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", b"3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n"
        )
    )
    got = await reader.read_request_head()
    assert got is not None
    assert got[1] == CHUNKED
    assert await body_of(reader, got[1]) == b"abc"
    assert reader.trailers.get(b"x-sum") == b"9"


async def test_a_response_to_head_has_no_body_and_a_close_delimited_one_runs_to_eof() -> None:
    reader = HttpReader(stream_of(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil close"))
    first = await reader.read_response_head(b"HEAD")
    assert first is not None
    assert first[1] == NO_BODY
    assert await body_of(reader, first[1], 502) == b""
    second = await reader.read_response_head(b"GET")
    assert second is not None
    assert second[1] == UNTIL_CLOSE
    assert await body_of(reader, second[1], 502) == b"until close"


async def test_an_upstream_that_closes_before_answering_reads_as_none() -> None:
    assert await HttpReader(stream_of()).read_response_head(b"GET") is None


async def test_a_head_read_cut_by_the_callers_deadline_says_whether_a_head_had_started() -> None:
    idle = HttpReader(stream_of(eof=False))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await idle.read_request_head()
    assert not idle.head_started, "an idle keep-alive connection: close quietly"

    slow = HttpReader(stream_of(b"GET / HTTP/1.1\r\n", eof=False))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await slow.read_request_head()
    assert slow.head_started, "a head had started: answer 408"


async def test_waiting_for_a_message_leaves_its_first_bytes_to_the_head_read() -> None:
    reader = HttpReader(stream_of(b"GET /a HTTP/1.1\r\n", b"Host: app\r\n\r\n"))
    assert await reader.wait_for_message() == b"G"
    assert reader.head_started
    got = await reader.read_request_head()
    assert got is not None
    assert got[0].target == b"/a"


async def test_waiting_for_a_message_on_a_connection_closed_cleanly_is_none() -> None:
    assert await HttpReader(stream_of()).wait_for_message() is None


async def test_a_pipelined_message_already_read_is_waited_for_without_reading_again() -> None:
    reader = HttpReader(stream_of(b"GET /a HTTP/1.1\r\nHost: app\r\n\r\nPUT /b HTTP/1.1\r\nHost: app\r\n\r\n"))
    assert await reader.read_request_head() is not None
    # The stream is at EOF now: a read would say "closed"; the buffered request says otherwise.
    assert await reader.wait_for_message() == b"P"
    second = await reader.read_request_head()
    assert second is not None
    assert second[0].target == b"/b"


async def test_a_wait_cut_by_the_idle_deadline_loses_nothing() -> None:
    stream = stream_of(eof=False)
    reader = HttpReader(stream)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await reader.wait_for_message()
    assert not reader.head_started
    stream.feed_data(b"GET /late HTTP/1.1\r\nHost: app\r\n\r\n")
    stream.feed_eof()
    got = await reader.read_request_head()
    assert got is not None
    assert got[0].target == b"/late"


async def test_the_bytes_after_a_101_are_handed_over_for_the_tunnel() -> None:
    reader = HttpReader(stream_of(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"))
    got = await reader.read_response_head(b"GET")
    assert got is not None
    assert got[1] == NO_BODY
    assert reader.take_buffered() == b"\x81\x05hello"


@pytest.fixture
async def pipe() -> AsyncIterator[tuple[asyncio.StreamWriter, asyncio.StreamReader]]:
    """A connected pair: write on one end, read what arrived on the other."""
    left, right = socket.socketpair()
    _, writer = await asyncio.open_connection(sock=left)
    reader, far_writer = await asyncio.open_connection(sock=right)
    yield writer, reader
    for w in (writer, far_writer):
        w.close()
        await w.wait_closed()


async def received(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> bytes:
    writer.close()
    await writer.wait_closed()
    return await reader.read()


async def test_a_close_delimited_body_is_forwarded_rechunked_with_its_head(
    pipe: tuple[asyncio.StreamWriter, asyncio.StreamReader],
) -> None:
    writer, far = pipe
    source = HttpReader(stream_of(b"part one,", b" part two"))
    write_head(
        writer, RequestHead(b"POST", b"/", b"1.1", Headers([(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]))
    )
    await forward_body(source, UNTIL_CLOSE, writer, CHUNKED)
    wire = await received(writer, far)
    assert wire.startswith(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert wire.endswith(b"0\r\n\r\n")
    replay = HttpReader(stream_of(wire))
    got = await replay.read_request_head()
    assert got is not None
    assert await body_of(replay, got[1]) == b"part one, part two"


async def test_a_chunked_body_is_forwarded_with_its_trailers(
    pipe: tuple[asyncio.StreamWriter, asyncio.StreamReader],
) -> None:
    writer, far = pipe
    source = HttpReader(stream_of(b"2\r\nab\r\n0\r\nX-Sum: 1\r\n\r\n"))
    await forward_body(source, CHUNKED, writer, CHUNKED)
    assert await received(writer, far) == b"2\r\nab\r\n0\r\nX-Sum: 1\r\n\r\n"


async def test_a_content_length_body_passes_through_unchanged(
    pipe: tuple[asyncio.StreamWriter, asyncio.StreamReader],
) -> None:
    writer, far = pipe
    await write_body(writer, ContentLength(5), b"hello")
    assert await received(writer, far) == b"hello"


async def test_writing_past_the_promised_length_is_refused_before_it_reaches_the_wire(
    pipe: tuple[asyncio.StreamWriter, asyncio.StreamReader],
) -> None:
    writer, far = pipe
    body = BodyWriter(writer, ContentLength(2))
    with pytest.raises(ProtocolError) as caught:
        await body.write(b"abc")
    assert caught.value.remote is False
    assert await received(writer, far) == b""


async def test_a_body_that_came_whole_with_its_head_is_taken_in_one_piece_and_nothing_past_it() -> None:
    reader = HttpReader(stream_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1", eof=False))
    got = await reader.read_response_head(b"GET")
    assert got is not None
    assert reader.take_whole_body(14) is None  # more than is here: nothing taken
    assert reader.take_whole_body(5) == b"hello"
    assert reader.take_buffered() == b"HTTP/1.1"  # what follows stays, for the reuse check to see


async def test_a_body_still_to_come_is_left_to_iter_body() -> None:
    stream = stream_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", eof=False)
    reader = HttpReader(stream)
    got = await reader.read_response_head(b"GET")
    assert got is not None
    assert reader.take_whole_body(5) is None
    stream.feed_data(b"lo")
    assert await body_of(reader, got[1], 502) == b"hello"
