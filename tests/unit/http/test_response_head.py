"""Response heads: every malformation is the upstream's fault and maps to 502."""

import pytest

from mesh.http import Limits, ProtocolError, parse_response_head


def test_a_status_line_and_fields_parse() -> None:
    got = parse_response_head(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nNEXT")
    assert got is not None
    head, rest = got
    assert (head.version, head.status, head.reason) == (b"1.1", 404, b"Not Found")
    assert head.headers.get(b"content-length") == b"0"
    assert rest == b"NEXT"


@pytest.mark.parametrize("line", [b"HTTP/1.1 204 ", b"HTTP/1.1 204"])
def test_an_empty_reason_is_accepted_with_or_without_its_space(line: bytes) -> None:
    got = parse_response_head(line + b"\r\n\r\n")
    assert got is not None
    assert (got[0].status, got[0].reason) == (204, b"")


REFUSED = [
    ("status out of range", b"HTTP/1.1 600 Odd\r\n\r\n"),
    ("status below 100", b"HTTP/1.1 099 Odd\r\n\r\n"),
    ("two-digit status", b"HTTP/1.1 20 OK\r\n\r\n"),
    ("signed status", b"HTTP/1.1 +20 OK\r\n\r\n"),
    ("no space after status", b"HTTP/1.1 200OK\r\n\r\n"),
    ("bad version", b"HTTP/1.x 200 OK\r\n\r\n"),
    ("HTTP/2 status line", b"HTTP/2.0 200 OK\r\n\r\n"),
    ("leading empty line", b"\r\nHTTP/1.1 200 OK\r\n\r\n"),
    ("control in reason", b"HTTP/1.1 200 O\x00K\r\n\r\n"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
    ("space before colon", b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n"),
    ("bare LF", b"HTTP/1.1 200 OK\nX: a\n\n"),
]


@pytest.mark.parametrize("raw", [c[1] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_malformed_response_heads_are_a_bad_gateway(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_response_head(raw)
    assert (caught.value.status_hint, caught.value.remote) == (502, True)


def test_oversized_response_heads_are_a_bad_gateway_not_431() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_response_head(b"HTTP/1.1 200 OK\r\nX: " + b"v" * 100, Limits(max_header_bytes=64))
    assert caught.value.status_hint == 502
