"""Body framing (RFC 9112 section 6): the decisions request smuggling lives or dies by."""

import pytest

from mesh.http import (
    CHUNKED,
    NO_BODY,
    UNTIL_CLOSE,
    ContentLength,
    Framing,
    Headers,
    ProtocolError,
    RequestHead,
    ResponseHead,
    framing_for_request,
    framing_for_response,
)


def request(*fields: tuple[bytes, bytes], version: bytes = b"1.1") -> RequestHead:
    return RequestHead(b"POST", b"/", version, Headers([(b"Host", b"app"), *fields]))


def response(status: int, *fields: tuple[bytes, bytes], version: bytes = b"1.1") -> ResponseHead:
    return ResponseHead(version, status, b"", Headers(fields))


CL = b"Content-Length"
TE = b"Transfer-Encoding"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((), NO_BODY),
        (((CL, b"0"),), ContentLength(0)),
        (((CL, b"42"),), ContentLength(42)),
        (((CL, b"007"),), ContentLength(7)),
        (((CL, b"9223372036854775807"),), ContentLength(2**63 - 1)),
        (((TE, b"chunked"),), CHUNKED),
        (((TE, b"Chunked"),), CHUNKED),
        (((TE, b", chunked ,"),), CHUNKED),
    ],
    ids=["none", "cl-0", "cl", "cl-leading-zeros", "cl-max", "te", "te-case", "te-ows-empty-member"],
)
def test_request_framing(fields: tuple[tuple[bytes, bytes], ...], expected: Framing) -> None:
    assert framing_for_request(request(*fields)) == expected


REFUSED_REQUESTS = [
    ("CL and TE", ((CL, b"5"), (TE, b"chunked")), 400, "both"),
    ("TE then CL", ((TE, b"chunked"), (CL, b"0")), 400, "both"),
    ("TE not chunked", ((TE, b"gzip"),), 400, "does not end with chunked"),
    ("TE identity", ((TE, b"identity"),), 400, "does not end with chunked"),
    ("TE chunked then gzip", ((TE, b"chunked, gzip"),), 400, "does not end with chunked"),
    ("TE chunked with params", ((TE, b"chunked;q=1"),), 400, "does not end with chunked"),
    ("TE empty", ((TE, b""),), 400, "does not end with chunked"),
    ("TE chunked twice", ((TE, b"chunked, chunked"),), 400, "more than once"),
    ("TE gzip, chunked", ((TE, b"gzip, chunked"),), 501, "other than chunked"),
    ("TE over two lines", ((TE, b"gzip"), (TE, b"chunked")), 501, "other than chunked"),
    ("CL plus sign", ((CL, b"+1"),), 400, "invalid Content-Length"),
    ("CL minus sign", ((CL, b"-1"),), 400, "invalid Content-Length"),
    ("CL inner space", ((CL, b"1 2"),), 400, "invalid Content-Length"),
    ("CL hex", ((CL, b"0x10"),), 400, "invalid Content-Length"),
    ("CL underscore", ((CL, b"1_0"),), 400, "invalid Content-Length"),
    ("CL non-ASCII digit", ((CL, "\u0661".encode()),), 400, "invalid Content-Length"),
    ("CL empty", ((CL, b""),), 400, "invalid Content-Length"),
    ("CL over 2**63-1", ((CL, b"9223372036854775808"),), 400, "invalid Content-Length"),
    ("CL huge", ((CL, b"9" * 40),), 400, "invalid Content-Length"),
    ("CL list of equal values", ((CL, b"5, 5"),), 400, "invalid Content-Length"),
    ("CL twice equal", ((CL, b"5"), (CL, b"5")), 400, "more than one Content-Length"),
    ("CL twice different", ((CL, b"5"), (CL, b"6")), 400, "more than one Content-Length"),
]


@pytest.mark.parametrize(
    ("fields", "status", "words"), [c[1:] for c in REFUSED_REQUESTS], ids=[c[0] for c in REFUSED_REQUESTS]
)
def test_request_framing_refused(fields: tuple[tuple[bytes, bytes], ...], status: int, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        framing_for_request(request(*fields))
    assert (caught.value.status_hint, caught.value.remote) == (status, True)
    assert words in caught.value.reason


def test_transfer_encoding_in_http_10_is_refused_even_when_chunked() -> None:
    with pytest.raises(ProtocolError, match=r"HTTP/1\.0") as caught:
        framing_for_request(request((TE, b"chunked"), version=b"1.0"))
    assert caught.value.status_hint == 400


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        (b"HEAD", 200, NO_BODY),
        (b"GET", 100, NO_BODY),
        (b"GET", 101, NO_BODY),
        (b"GET", 204, NO_BODY),
        (b"GET", 304, NO_BODY),
        (b"CONNECT", 200, NO_BODY),
        (b"CONNECT", 407, ContentLength(5)),
        (b"GET", 200, ContentLength(5)),
    ],
)
def test_responses_without_a_body_ignore_content_length(method: bytes, status: int, expected: Framing) -> None:
    assert framing_for_response(method, response(status, (CL, b"5"))) == expected


def test_a_response_with_neither_length_field_runs_until_close() -> None:
    assert framing_for_response(b"GET", response(200)) == UNTIL_CLOSE


def test_a_chunked_response_is_chunked() -> None:
    assert framing_for_response(b"GET", response(200, (TE, b"chunked"))) == CHUNKED


@pytest.mark.parametrize(
    "fields",
    [
        ((CL, b"5"), (TE, b"chunked")),
        ((TE, b"gzip"),),
        ((TE, b"gzip, chunked"),),
        ((CL, b"-5"),),
        ((CL, b"5"), (CL, b"5")),
    ],
    ids=["cl-and-te", "te-not-chunked", "te-other-coding", "cl-invalid", "cl-twice"],
)
def test_response_framing_problems_are_a_bad_gateway(fields: tuple[tuple[bytes, bytes], ...]) -> None:
    with pytest.raises(ProtocolError) as caught:
        framing_for_response(b"GET", response(200, *fields))
    assert caught.value.status_hint == 502


def test_a_chunked_http_10_response_is_a_bad_gateway() -> None:
    with pytest.raises(ProtocolError) as caught:
        framing_for_response(b"GET", response(200, (TE, b"chunked"), version=b"1.0"))
    assert caught.value.status_hint == 502
