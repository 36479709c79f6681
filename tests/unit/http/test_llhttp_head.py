"""llhttp's head readers keep the mesh's rules where llhttp alone would decide otherwise.

Each case is one of the known differences between llhttp and the mesh (llhttp more
lenient: the mesh's answer holds; llhttp stricter: RFC 9110/9112 decides, and both
parsers give that answer). `compare_*` also holds the pure-Python readers to it.
"""

from __future__ import annotations

import asyncio

import pytest

from mesh.http import NO_BODY, ContentLength, Limits, ProtocolError
from mesh.http.differential import Outcome, compare_request, compare_response
from mesh.http.llhttp_head import LlhttpRequestHeadReader
from mesh.http.streams import HeadCodec, HttpReader


def refused(outcome: Outcome) -> int:
    assert outcome.error is not None, outcome
    return outcome.error.status_hint


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        # llhttp accepts these; the mesh does not.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # llhttp skips a lone CR before the method
        # Both refuse; the status is the mesh's.
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"delete / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400),
    ],
)
def test_a_request_is_refused_with_the_mesh_status(raw: bytes, status: int) -> None:
    assert refused(compare_request([raw])) == status


def test_an_extension_method_llhttp_does_not_know_is_forwarded_as_rfc_9110_allows() -> None:
    got = compare_request([b"FOO-BAR /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"])
    assert got.head is not None
    assert (got.head.method, got.framing, got.rest) == (b"FOO-BAR", ContentLength(2), b"hi")


def test_a_304_frames_no_body_whatever_its_content_length_says() -> None:
    # llhttp refuses the invalid Content-Length; RFC 9112 6.3 item 1 says a 304 ends at its head.
    got = compare_response([b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5, 5\r\n\r\n"])
    assert (got.head is not None, got.framing) == (True, NO_BODY)


def test_a_101_without_connection_upgrade_is_a_head_like_any_other() -> None:
    got = compare_response([b"HTTP/1.1 101 Switching\r\nUpgrade: ws\r\n\r\n\x81\x00"])
    assert (got.framing, got.rest) == (NO_BODY, b"\x81\x00")


def test_a_response_llhttp_accepts_is_still_held_to_the_status_line_grammar() -> None:
    assert refused(compare_response([b"HTTP/1.1 999 Odd\r\n\r\n"])) == 502
    assert refused(compare_response([b"HTTP/1.1 200 a\x01b\r\n\r\n"])) == 502


def test_a_head_that_never_ends_is_refused_once_it_crosses_a_limit() -> None:
    limits = Limits(max_request_line=64, max_header_bytes=256, max_header_count=4)
    reader = LlhttpRequestHeadReader(limits)
    assert reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n") is None
    fed = 0
    while fed < 256 - 30:
        assert reader.feed(b"X-Endless: a") is None  # one field line that never ends
        fed += 12
    with pytest.raises(ProtocolError) as caught:
        reader.feed(b"a" * 30)
    assert caught.value.status_hint == 431
    assert refused(compare_request([b"GET /" + b"a" * 64 + b" HTTP/1.1"], limits, eof=False)) == 414
    assert refused(compare_request([b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5], limits, eof=False)) == 431


@pytest.mark.parametrize("codec", ["llhttp", "python"])
async def test_either_codec_reads_pipelined_requests_through_http_reader(codec: HeadCodec) -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(
        b"POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: app\r\n\r\n"
    )
    stream.feed_eof()
    reader = HttpReader(stream, codec=codec, read_size=7)
    first = await reader.read_request_head()
    assert first is not None
    assert first[1] == ContentLength(2)
    assert b"".join([chunk async for chunk in reader.iter_body(first[1])]) == b"hi"
    second = await reader.read_request_head()
    assert second is not None
    assert (second[0].target, second[1]) == (b"/b", NO_BODY)
    assert await reader.read_request_head() is None
