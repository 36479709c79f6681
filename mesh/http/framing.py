"""Where a message body ends (RFC 9112 section 6), decided once from the head.

Choices, all on the strict side because a proxy and the app behind it must agree on the
body length or a second request hides inside the first:
- Transfer-Encoding with Content-Length: refused (RFC 9112 6.1 allows rejecting;
  forwarding it is the classic CL.TE smuggling vector).
- Transfer-Encoding on an HTTP/1.0 message: refused (RFC 9112 6.1: framing is faulty).
- Transfer-Encoding must be exactly `chunked`: a final coding other than chunked is a
  400 (RFC 9112 6.3 item 4, for requests); chunked after another coding (`gzip, chunked`)
  is a 501, since we implement no other transfer coding and forwarding it without the
  hop-by-hop Transfer-Encoding field would corrupt the body; `chunked` twice is a 400.
  For responses every such case is a 502 rather than read-until-close, for the same reason.
- Content-Length must be one field line of 1*DIGIT: no sign, no whitespace inside, no
  hex, no list. RFC 9112 6.3 item 5 allows merging `42, 42`; we refuse it, as llhttp does.
  Values above 2**63-1 are refused, as in Envoy and llhttp.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh.http.errors import ProtocolError
from mesh.http.grammar import DIGIT_OK
from mesh.http.headers import Headers
from mesh.http.messages import HTTP_10, RequestHead, ResponseHead

MAX_CONTENT_LENGTH = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ContentLength:
    """The body is exactly `length` bytes (possibly 0)."""

    length: int


@dataclass(frozen=True, slots=True)
class Chunked:
    """The body is chunked (RFC 9112 7.1) and may end with trailer fields."""


@dataclass(frozen=True, slots=True)
class UntilClose:
    """The body runs until the server closes the connection (responses only)."""


@dataclass(frozen=True, slots=True)
class NoBody:
    """The message has no body whatever its headers say (HEAD, 1xx, 204, 304, CONNECT 2xx)."""


Framing = ContentLength | Chunked | UntilClose | NoBody

CHUNKED = Chunked()
UNTIL_CLOSE = UntilClose()
NO_BODY = NoBody()


def framing_for_request(head: RequestHead) -> Framing:
    """How to read `head`'s body. Raises ProtocolError (400 or 501) when it cannot be framed safely."""
    framing = _declared(head.headers, head.version, 400)
    # RFC 9112 6.3 item 7: a request with neither field has no body.
    return NO_BODY if framing is None else framing


def framing_for_response(request_method: bytes, head: ResponseHead) -> Framing:
    """How to read the body of `head`, sent in answer to a `request_method` request.

    A 101 and a 2xx to CONNECT carry no body: the connection turns into a tunnel right
    after the head, and the caller takes over the raw bytes.
    """
    status = head.status
    if request_method == b"HEAD" or status < 200 or status in (204, 304):
        return NO_BODY
    if request_method == b"CONNECT" and status < 300:
        return NO_BODY
    framing = _declared(head.headers, head.version, 502)
    return UNTIL_CLOSE if framing is None else framing


def parse_content_length(value: bytes) -> int | None:
    """The value of one Content-Length field, or None when it is not 1*DIGIT within range."""
    # int() alone would accept "+1", " 1", "1_0" and non-ASCII digits; the translate
    # check leaves only ASCII digits, and the length check keeps int() cheap.
    if not value or len(value) > 19 or value.translate(None, DIGIT_OK):
        return None
    n = int(value)
    return n if n <= MAX_CONTENT_LENGTH else None


def _declared(headers: Headers, version: bytes, status: int) -> Framing | None:
    has_te = b"transfer-encoding" in headers
    lengths = headers.get_all(b"content-length")
    if has_te:
        if version == HTTP_10:
            raise ProtocolError(status, "Transfer-Encoding in an HTTP/1.0 message")
        if lengths:
            raise ProtocolError(status, "both Transfer-Encoding and Content-Length")
        return _transfer_coding(headers.tokens(b"transfer-encoding"), status)
    if not lengths:
        return None
    if len(lengths) > 1:
        raise ProtocolError(status, "more than one Content-Length field")
    n = parse_content_length(lengths[0])
    if n is None:
        raise ProtocolError(status, "invalid Content-Length")
    return ContentLength(n)


def _transfer_coding(codings: list[bytes], status: int) -> Framing:
    if not codings or codings[-1] != b"chunked":
        raise ProtocolError(status, "Transfer-Encoding does not end with chunked")
    if codings.count(b"chunked") > 1:
        raise ProtocolError(status, "chunked applied more than once")
    if len(codings) > 1:
        raise ProtocolError(501 if status == 400 else status, "transfer coding other than chunked")
    return CHUNKED
