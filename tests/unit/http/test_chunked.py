"""The chunked decoder: strict chunk-size lines, exact CRLFs, bounded extensions and trailers."""

import pytest

from mesh.http import ChunkedReader, Data, EndOfMessage, Event, Headers, Limits, ProtocolError


def decode(raw: bytes, limits: Limits | None = None) -> tuple[bytes, Headers, bytes]:
    """Feed `raw` whole; return (body, trailers, leftover) of a complete body."""
    reader = ChunkedReader() if limits is None else ChunkedReader(limits)
    events = reader.feed(raw)
    assert reader.done, "body should be complete"
    return joined(events)[0], trailers_of(events), reader.leftover


def joined(events: list[Event]) -> tuple[bytes, bool]:
    return b"".join(e.data for e in events if isinstance(e, Data)), any(isinstance(e, EndOfMessage) for e in events)


def trailers_of(events: list[Event]) -> Headers:
    ends = [e for e in events if isinstance(e, EndOfMessage)]
    assert len(ends) == 1
    return ends[0].trailers


def refusal(raw: bytes, limits: Limits | None = None) -> ProtocolError:
    reader = ChunkedReader() if limits is None else ChunkedReader(limits)
    with pytest.raises(ProtocolError) as caught:
        reader.feed(raw)
    return caught.value


def test_chunks_decode_to_the_body_and_the_rest_is_left_over() -> None:
    assert decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /") == (b"hello world", Headers(), b"GET /")


def test_hex_sizes_are_case_insensitive_and_may_have_leading_zeros() -> None:
    assert decode(b"A\r\n0123456789\r\n0000b\r\n0123456789a\r\n0\r\n\r\n")[0] == b"0123456789" + b"0123456789a"


def test_trailer_fields_end_the_message() -> None:
    body, trailers, _ = decode(b"1\r\nx\r\n0\r\nChecksum: abc\r\nX-Other: 1\r\n\r\n")
    assert body == b"x"
    assert list(trailers) == [(b"Checksum", b"abc"), (b"X-Other", b"1")]


@pytest.mark.parametrize(
    "line",
    [b"5;name", b"5;name=value", b'5;name="quoted \\" value"', b"5 ;a=b ; c", b"5; a = b", b"5;a=b;c=d"],
)
def test_chunk_extensions_are_parsed_and_discarded(line: bytes) -> None:
    assert decode(line + b"\r\nhello\r\n0\r\n\r\n")[0] == b"hello"


def test_data_is_delivered_as_it_arrives_not_at_the_end_of_the_chunk() -> None:
    reader = ChunkedReader()
    assert reader.feed(b"a\r\n01234") == [Data(b"01234")]
    assert reader.feed(b"56789\r\n0\r\n\r\n") == [Data(b"56789"), EndOfMessage()]


REFUSED = [
    ("hex prefix", b"0x5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("empty extension", b"5;\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("leading spaces", b"  5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("plus sign", b"+5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("minus sign", b"-5\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("underscore", b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n", "chunk-size"),
    ("empty size", b"\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("non-hex", b"5g\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("over 2**63-1", b"8000000000000000\r\n", "too large"),
    ("huge", b"1" + b"0" * 30 + b"\r\n", "too large"),
    ("bare LF after size", b"5\nhello\r\n0\r\n\r\n", "bare LF"),
    ("missing CRLF after data", b"5\r\nhelloX\r\n0\r\n\r\n", "not followed by CRLF"),
    ("LF only after data", b"5\r\nhello\n0\r\n\r\n", "not followed by CRLF"),
    ("data longer than size", b"3\r\nhello\r\n0\r\n\r\n", "not followed by CRLF"),
    ("extension without name", b"5;=v\r\nhello\r\n0\r\n\r\n", "chunk-extension"),
    ("extension with CTL", b"5;a=\x00\r\nhello\r\n0\r\n\r\n", "chunk-extension"),
    ("extension with bare CR", b"5;a\rb\r\nhello\r\n0\r\n\r\n", "chunk-extension"),
    ("unterminated quote", b'5;a="b\r\nhello\r\n0\r\n\r\n', "chunk-extension"),
    ("trailer obs-fold", b"0\r\nX: a\r\n b\r\n\r\n", "folding"),
    ("trailer bare LF", b"0\r\nX: a\n\r\n", "bare LF"),
    ("trailer NUL", b"0\r\nX: \x00\r\n\r\n", "control character"),
]


@pytest.mark.parametrize(("raw", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_malformed_chunked_bodies_are_refused(raw: bytes, words: str) -> None:
    error = refusal(raw)
    assert (error.status_hint, error.remote) == (400, True)
    assert words in error.reason


def test_the_largest_chunk_size_is_accepted() -> None:
    assert ChunkedReader().feed(b"7fffffffffffffff\r\n") == []


def test_a_size_line_over_the_limit_is_cut_before_it_ends() -> None:
    error = refusal(b"5;" + b"a" * 100, Limits(max_chunk_line=64))
    assert "too long" in error.reason


def test_extension_bytes_are_bounded_over_the_whole_body() -> None:
    chunk = b"1;" + b"e" * 30 + b"\r\nx\r\n"
    limits = Limits(max_chunk_extensions=100)
    assert ChunkedReader(limits).feed(chunk * 3) == [Data(b"x")] * 3
    assert "chunk-extension bytes" in refusal(chunk * 4, limits).reason


def test_a_trailer_section_over_the_limit_is_cut_before_it_ends() -> None:
    error = refusal(b"0\r\nX: " + b"v" * 100, Limits(max_trailer_bytes=64))
    assert "trailer section too large" in error.reason


def test_too_many_trailer_fields_are_refused() -> None:
    error = refusal(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", Limits(max_header_count=2))
    assert "too many trailer fields" in error.reason


def test_a_close_before_the_last_chunk_is_a_truncated_body() -> None:
    reader = ChunkedReader()
    reader.feed(b"5\r\nhel")
    with pytest.raises(ProtocolError, match="closed before the end"):
        reader.feed_eof()


def test_response_bodies_report_a_bad_gateway() -> None:
    with pytest.raises(ProtocolError) as caught:
        ChunkedReader(error_status=502).feed(b"zz\r\n")
    assert caught.value.status_hint == 502
