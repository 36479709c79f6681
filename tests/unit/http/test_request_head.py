"""Request heads: what is accepted, and every malformation refused with its status."""

import pytest

from mesh.http import HTTP_10, Limits, ProtocolError, RequestHead, RequestHeadReader, parse_request_head

HOST = b"Host: app\r\n"


def parse(raw: bytes, limits: Limits | None = None) -> RequestHead:
    got = parse_request_head(raw) if limits is None else parse_request_head(raw, limits)
    assert got is not None, "head should be complete"
    return got[0]


def refusal(raw: bytes, limits: Limits | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(raw, limits)
    assert caught.value.remote, "a malformed request is the client's fault"
    return caught.value


def test_a_plain_request_parses_with_fields_in_order_and_the_rest_left_over() -> None:
    got = parse_request_head(b"GET /a?b=1 HTTP/1.1\r\nHost: app\r\nX-B: 2\r\nx-a: 1\r\n\r\nBODY")
    assert got is not None
    head, rest = got
    assert (head.method, head.target, head.version) == (b"GET", b"/a?b=1", b"1.1")
    assert list(head.headers) == [(b"Host", b"app"), (b"X-B", b"2"), (b"x-a", b"1")]
    assert rest == b"BODY"


def test_an_incomplete_head_needs_more() -> None:
    assert parse_request_head(b"GET / HTTP/1.1\r\nHost: app\r\n") is None


def test_optional_whitespace_around_values_is_not_part_of_the_value() -> None:
    head = parse(b"GET / HTTP/1.1\r\nHost:app\r\nX:  a b \t\r\nEmpty:\r\n\r\n")
    assert head.headers.get(b"x") == b"a b"
    assert head.headers.get(b"empty") == b""


def test_empty_lines_before_the_request_line_are_skipped() -> None:
    assert parse(b"\r\n\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n").method == b"GET"


def test_http_10_needs_no_host() -> None:
    assert parse(b"GET / HTTP/1.0\r\n\r\n").version == HTTP_10


@pytest.mark.parametrize("method", [b"GET", b"POST", b"PURGE", b"M-SEARCH", b"PROPFIND"])
def test_uppercase_token_methods_are_accepted_as_sent(method: bytes) -> None:
    assert parse(method + b" / HTTP/1.1\r\n" + HOST + b"\r\n").method == method


@pytest.mark.parametrize(
    ("target", "method"),
    [
        (b"http://app:8080/p?q=1", b"GET"),
        (b"HTTPS://app/", b"GET"),
        (b"*", b"OPTIONS"),
        (b"app:443", b"CONNECT"),
        (b"[::1]:8080", b"CONNECT"),
    ],
)
def test_absolute_asterisk_and_authority_forms_are_accepted_with_their_methods(target: bytes, method: bytes) -> None:
    assert parse(method + b" " + target + b" HTTP/1.1\r\n" + HOST + b"\r\n").target == target


# (case id, raw request head, status, words in the reason)
REFUSED = [
    # start line
    ("lowercase method", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "lowercase"),
    ("mixed-case method", b"Get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "lowercase"),
    ("non-token method", b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method"),
    ("double space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"),
    ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"),
    ("missing version", b"GET /\r\nHost: a\r\n\r\n", 400, "request line"),
    ("trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "request line"),
    ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, "version"),
    ("junk version", b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "version"),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "version"),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "version"),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"),
    ("fragment in target", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target"),
    ("non-ASCII target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target"),
    ("NUL in target", b"GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target"),
    ("CR in request line", b"GET /a\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target"),
    ("relative target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "absolute"),
    ("non-http scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "absolute"),
    ("empty authority", b"GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", 400, "authority"),
    ("userinfo", b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "authority"),
    ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "OPTIONS"),
    ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT"),
    ("CONNECT without port", b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT"),
    # line ends
    ("bare LF line ends", b"GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF"),
    ("bare LF after a field", b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF"),
    ("bare LF before request", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF"),
    # field lines
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n", 400, "folding"),
    ("tab obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tfolded\r\n\r\n", 400, "folding"),
    ("space before first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "leading whitespace"),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "between field name and colon"),
    ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "between field name and colon"),
    ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400, "empty field name"),
    ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "without a colon"),
    ("separator in name", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", 400, "field name"),
    ("non-ASCII name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: v\r\n\r\n", 400, "field name"),
    ("NUL in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: v\r\n\r\n", 400, "control character"),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, "control character"),
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, "control character"),
    ("ESC in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n", 400, "control character"),
    ("CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "bare CR"),
    ("CR in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\rY: b\r\n\r\n", 400, "bare CR"),
    ("LF in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400, "bare LF"),
    # Host
    ("missing Host", b"GET / HTTP/1.1\r\nX: a\r\n\r\n", 400, "missing Host"),
    ("duplicate Host", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "more than one Host"),
    ("duplicate Host in 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"),
    ("empty Host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "invalid Host"),
    ("Host list", b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, "invalid Host"),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "invalid Host"),
    ("Host with path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host"),
    ("Host bad port", b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, "invalid Host"),
]


@pytest.mark.parametrize(("raw", "status", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_malformed_request_heads_are_refused(raw: bytes, status: int, words: str) -> None:
    error = refusal(raw)
    assert error.status_hint == status
    assert words in error.reason


SMALL = Limits(max_request_line=32, max_header_bytes=64, max_header_count=3)


def test_a_request_line_at_the_limit_is_accepted() -> None:
    line = b"GET /" + b"a" * (32 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 32
    assert parse(line + b"\r\n" + HOST + b"\r\n", SMALL).target.startswith(b"/a")


def test_a_request_line_over_the_limit_is_414() -> None:
    line = b"GET /" + b"a" * (33 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert refusal(line + b"\r\n" + HOST + b"\r\n", SMALL).status_hint == 414


def test_a_request_line_over_the_limit_is_cut_before_it_ends() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request_head(b"GET /" + b"a" * 40, SMALL)
    assert caught.value.status_hint == 414


def test_endless_empty_lines_count_against_the_request_line_limit() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request_head(b"\r\n" * 20, SMALL)
    assert caught.value.status_hint == 414


def header_section(size: int) -> bytes:
    """A header section (fields and the final empty line) of exactly `size` bytes."""
    frame = b"Host: app\r\nX: \r\n\r\n"
    return b"Host: app\r\nX: " + b"v" * (size - len(frame)) + b"\r\n\r\n"


def test_a_header_section_at_the_limit_is_accepted() -> None:
    assert parse(b"GET / HTTP/1.1\r\n" + header_section(64), SMALL).headers.get(b"host") == b"app"


def test_a_header_section_over_the_limit_is_431() -> None:
    assert refusal(b"GET / HTTP/1.1\r\n" + header_section(65), SMALL).status_hint == 431


def test_an_endless_header_value_is_cut_at_the_limit() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request_head(b"GET / HTTP/1.1\r\nX: " + b"v" * 100, SMALL)
    assert (caught.value.status_hint, caught.value.reason) == (431, "header section too large")


def test_too_many_header_fields_is_431_before_the_head_ends() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n", SMALL)
    assert (caught.value.status_hint, caught.value.reason) == (431, "too many header fields")


def test_exactly_the_maximum_number_of_fields_is_accepted() -> None:
    assert len(parse(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", SMALL).headers) == 3


def test_limits_are_enforced_on_the_default_envoy_like_sizes() -> None:
    many = b"".join(b"X-%d: v\r\n" % i for i in range(100))
    assert refusal(b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n").status_hint == 431
    big = b"X: " + b"v" * (60 * 1024) + b"\r\n"
    assert refusal(b"GET / HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n").status_hint == 431


def test_a_reader_that_refused_a_head_stays_refused() -> None:
    reader = RequestHeadReader()
    with pytest.raises(ProtocolError):
        reader.feed(b"GET / HTTP/1.1\nHost: a\r\n\r\n")
    with pytest.raises(RuntimeError):
        reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
