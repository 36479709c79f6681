"""Serialization: heads round-trip byte for byte, bodies are framed as the head promised."""

import pytest

from mesh.http import (
    CHUNKED,
    NO_BODY,
    UNTIL_CLOSE,
    BodyEncoder,
    ChunkedReader,
    ContentLength,
    Data,
    EndOfMessage,
    Framing,
    Headers,
    ProtocolError,
    RequestHead,
    ResponseHead,
    encode_chunk,
    encode_last_chunk,
    encode_request_head,
    encode_response_head,
    outgoing_framing,
    parse_request_head,
    parse_response_head,
    with_framing_headers,
)

CANONICAL_REQUEST = (
    b"POST http://api:8080/v1/items?x=1 HTTP/1.1\r\n"
    b"host: api:8080\r\n"
    b"X-Zeta: last-letter-first\r\n"
    b"Content-Type: application/json\r\n"
    b"x-request-id: 42\r\n"
    b"X-Zeta: again\r\n"
    b"Accept-Encoding: gzip, br\r\n"
    b"Content-Length: 2\r\n"
    b"\r\n"
)
CANONICAL_RESPONSE = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nvia: 1.1 mesh\r\n\r\n"


def test_a_request_head_round_trips_with_field_order_and_case_intact() -> None:
    got = parse_request_head(CANONICAL_REQUEST + b"{}")
    assert got is not None
    assert encode_request_head(got[0]) == CANONICAL_REQUEST


def test_a_response_head_round_trips_with_field_order_and_case_intact() -> None:
    got = parse_response_head(CANONICAL_RESPONSE)
    assert got is not None
    assert encode_response_head(got[0]) == CANONICAL_RESPONSE


def test_optional_whitespace_is_normalized_to_one_space_after_the_colon() -> None:
    got = parse_request_head(b"GET / HTTP/1.1\r\nHost:app\r\nX:\t spaced \t\r\n\r\n")
    assert got is not None
    assert encode_request_head(got[0]) == b"GET / HTTP/1.1\r\nHost: app\r\nX: spaced\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        RequestHead(b"GET", b"/a\r\nX: injected", b"1.1", Headers()),
        RequestHead(b"GET /", b"/", b"1.1", Headers()),
        RequestHead(b"GET", b"", b"1.1", Headers()),
        RequestHead(b"GET", b"/", b"2", Headers()),
    ],
    ids=["crlf-in-target", "space-in-method", "empty-target", "bad-version"],
)
def test_a_head_our_code_built_wrong_is_refused_as_a_local_error(head: RequestHead) -> None:
    with pytest.raises(ProtocolError) as caught:
        encode_request_head(head)
    assert (caught.value.remote, caught.value.status_hint) == (False, 500)


def test_a_reason_phrase_with_crlf_is_refused_as_a_local_error() -> None:
    with pytest.raises(ProtocolError):
        encode_response_head(ResponseHead(b"1.1", 200, b"OK\r\nX: y", Headers()))


def test_chunk_encoding_decodes_back_with_trailers() -> None:
    wire = (
        encode_chunk(b"hello")
        + encode_chunk(b"")
        + encode_chunk(b"x" * 300)
        + encode_last_chunk(Headers([(b"Checksum", b"abc")]))
    )
    assert wire.startswith(b"5\r\nhello\r\n12c\r\n")
    events = ChunkedReader().feed(wire)
    assert events == [Data(b"hello"), Data(b"x" * 300), EndOfMessage(Headers([(b"Checksum", b"abc")]))]


def test_a_content_length_body_passes_through_and_must_match_the_length() -> None:
    encoder = BodyEncoder(ContentLength(5))
    assert encoder.encode(b"hel") == b"hel"
    with pytest.raises(ProtocolError, match="shorter"):
        encoder.finish()
    with pytest.raises(ProtocolError, match="longer"):
        encoder.encode(b"lo!")


def test_a_chunked_body_is_chunk_encoded_and_finished_with_the_last_chunk() -> None:
    encoder = BodyEncoder(CHUNKED)
    assert encoder.encode(b"abc") + encoder.finish() == b"3\r\nabc\r\n0\r\n\r\n"


def test_no_body_accepts_no_bytes() -> None:
    with pytest.raises(ProtocolError):
        BodyEncoder(NO_BODY).encode(b"x")


@pytest.mark.parametrize(
    ("incoming", "peer", "expected"),
    [
        (ContentLength(3), b"1.1", ContentLength(3)),
        (NO_BODY, b"1.1", NO_BODY),
        (CHUNKED, b"1.1", CHUNKED),
        (UNTIL_CLOSE, b"1.1", CHUNKED),
        (CHUNKED, b"1.0", UNTIL_CLOSE),
    ],
)
def test_outgoing_framing_passes_lengths_through_and_rechunks_the_rest(
    incoming: Framing, peer: bytes, expected: Framing
) -> None:
    assert outgoing_framing(incoming, peer) == expected


def test_framing_headers_announce_only_the_framing_we_send() -> None:
    received = Headers([(b"Host", b"a"), (b"Transfer-Encoding", b"chunked"), (b"X", b"1")])
    assert list(with_framing_headers(received, ContentLength(7))) == [
        (b"Host", b"a"),
        (b"X", b"1"),
        (b"Content-Length", b"7"),
    ]
    assert with_framing_headers(Headers([(b"Content-Length", b"7")]), CHUNKED).get_all(b"transfer-encoding") == [
        b"chunked"
    ]
    assert b"content-length" not in with_framing_headers(Headers([(b"Content-Length", b"7")]), CHUNKED)


def test_a_no_body_response_keeps_its_content_length() -> None:
    head_answer = Headers([(b"Content-Length", b"1234")])
    assert with_framing_headers(head_answer, NO_BODY).get(b"content-length") == b"1234"
