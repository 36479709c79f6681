"""Serialization: heads to bytes, and bodies framed for the next hop.

Heads are written with their fields in order and with names as received. The start line
is checked on the way out (cheap: one translate per part) so a head built by our own code
from bad input cannot put CR/LF on the wire; header fields were checked when the Headers
were built. Errors here are ours: ProtocolError(500, ..., remote=False).
"""

from __future__ import annotations

from mesh.http.errors import ProtocolError
from mesh.http.framing import CHUNKED, UNTIL_CLOSE, Chunked, ContentLength, Framing, NoBody, UntilClose
from mesh.http.grammar import FIELD_VALUE_OK, TARGET_OK, TOKEN_OK
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.messages import HTTP_10, HTTP_11, RequestHead, ResponseHead


def encode_request_head(head: RequestHead) -> bytes:
    method, target, version = head.method, head.target, head.version
    if not method or method.translate(None, TOKEN_OK):
        raise ProtocolError(500, f"cannot send method {method!r}", remote=False)
    if not target or target.translate(None, TARGET_OK):
        raise ProtocolError(500, f"cannot send request-target {target!r}", remote=False)
    _check_version(version)
    parts = [method, b" ", target, b" HTTP/", version, b"\r\n"]
    _add_fields(parts, head.headers)
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_response_head(head: ResponseHead) -> bytes:
    if not 100 <= head.status <= 599 or head.reason.translate(None, FIELD_VALUE_OK):
        raise ProtocolError(500, f"cannot send status line {head.status} {head.reason!r}", remote=False)
    _check_version(head.version)
    parts = [b"HTTP/", head.version, b" %d " % head.status, head.reason, b"\r\n"]
    _add_fields(parts, head.headers)
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_fields(headers: Headers) -> bytes:
    """Field lines, each ending in CRLF (no final empty line)."""
    parts: list[bytes] = []
    _add_fields(parts, headers)
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    """One chunk; empty data encodes to nothing (an empty chunk would end the body)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers = EMPTY_HEADERS) -> bytes:
    """The last chunk and the trailer section, which end a chunked body."""
    return b"0\r\n" + encode_fields(trailers) + b"\r\n"


class BodyEncoder:
    """Frames body bytes for `framing` and checks we send exactly what the head promised.

    ContentLength passes bytes through (more or fewer than promised is our bug: the next
    hop would read the wrong message boundary); Chunked chunk-encodes; UntilClose passes
    through and the caller closes; NoBody accepts no bytes at all.
    """

    __slots__ = ("_framing", "_remaining")

    def __init__(self, framing: Framing) -> None:
        self._framing = framing
        self._remaining = framing.length if isinstance(framing, ContentLength) else 0

    def encode(self, data: bytes) -> bytes:
        match self._framing:
            case Chunked():
                return encode_chunk(data)
            case ContentLength() | NoBody():
                if len(data) > self._remaining:
                    raise ProtocolError(500, "body longer than its Content-Length", remote=False)
                self._remaining -= len(data)
                return data
            case UntilClose():
                return data

    def finish(self, trailers: Headers = EMPTY_HEADERS) -> bytes:
        """The bytes that end the body. Trailers are sent only on a chunked body (else dropped,
        which RFC 9110 6.5 permits)."""
        if isinstance(self._framing, Chunked):
            return encode_last_chunk(trailers)
        if self._remaining:
            raise ProtocolError(500, "body shorter than its Content-Length", remote=False)
        return b""


def outgoing_framing(incoming: Framing, peer_version: bytes = HTTP_11) -> Framing:
    """The framing to forward a body with: Content-Length passes through; a chunked or
    close-delimited body is (re-)chunked for an HTTP/1.1 peer and close-delimited for an
    HTTP/1.0 one (which cannot read chunked)."""
    if isinstance(incoming, ContentLength | NoBody):
        return incoming
    return CHUNKED if peer_version == HTTP_11 else UNTIL_CLOSE


def with_framing_headers(headers: Headers, framing: Framing) -> Headers:
    """`headers` with Content-Length / Transfer-Encoding announcing `framing`, the received
    ones removed, so the next hop frames the body exactly as we send it.

    NoBody keeps a received Content-Length: on a response to HEAD, or a 304, it describes
    the representation, not this message, and RFC 9110 8.6 lets it pass.
    """
    match framing:
        case ContentLength(length):
            return headers.without(b"transfer-encoding").with_set(b"Content-Length", b"%d" % length)
        case Chunked():
            return headers.without(b"content-length").with_set(b"Transfer-Encoding", b"chunked")
        case NoBody():
            return headers.without(b"transfer-encoding")
        case UntilClose():
            return headers.without(b"content-length", b"transfer-encoding")


def _check_version(version: bytes) -> None:
    if version not in (HTTP_11, HTTP_10):
        raise ProtocolError(500, f"cannot send HTTP version {version!r}", remote=False)


def _add_fields(parts: list[bytes], headers: Headers) -> None:
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
