"""Syntax of a complete head: start line and field lines (RFC 9112 sections 3, 4 and 5).

Runs once the head reader has found where the head ends and checked its size, so every
function here sees complete lines with the CRLFs already split off. The common case is a
handful of C-level calls per head (translate, split, find) and one short loop per field.
"""

from __future__ import annotations

from mesh.http.errors import ProtocolError
from mesh.http.grammar import FIELD_VALUE_OK, HEAD_BLOCK_OK, LOWERCASE, TOKEN_OK
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.messages import HTTP_10, HTTP_11, RequestHead, ResponseHead
from mesh.http.target import is_valid_authority, target_form

_NAMES_OK = TOKEN_OK + b"\n"  # names are checked joined by LF, which no valid name holds
_DIGITS = b"0123456789"


def parse_request(line: bytes, block: bytes) -> RequestHead:
    """A request line and its header block (field lines joined by CRLF, no final CRLF)."""
    method, target, version = parse_request_line(line)
    headers = parse_fields(block, 400)
    check_host(headers, version)
    return RequestHead(method, target, version, headers)


def parse_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    """(method, target, version) of a request line; ProtocolError 400, 501 or 505."""
    parts = line.split(b" ")
    if len(parts) != 3:
        # Exactly one SP between the three parts: RFC 9112 3 lets a server split on any
        # whitespace instead, but a proxy that splits differently from the app is a
        # request-smuggling seam, so it gets the strict grammar.
        raise ProtocolError(400, "malformed request line")
    method, target, raw_version = parts
    if not method or method.translate(None, TOKEN_OK):
        raise ProtocolError(400, "invalid method")
    if method.translate(None, LOWERCASE) != method:
        # Methods are case-sensitive, but some frameworks upper-case them before routing:
        # `delete` would then pass a DELETE deny rule here and act as DELETE there.
        # Like Envoy and llhttp, accept no such method (501: not one we implement).
        raise ProtocolError(501, "method with lowercase letters")
    version = _version(raw_version, 400)
    target_form(method, target)
    return method, target, version


def check_host(headers: Headers, version: bytes) -> None:
    """One valid Host field (none is allowed in HTTP/1.0): RFC 9112 3.2 says 400 otherwise."""
    hosts = headers.count(b"host")
    if hosts > 1:
        raise ProtocolError(400, "more than one Host field")
    if hosts == 0:
        if version == HTTP_11:
            raise ProtocolError(400, "missing Host field")
    elif not is_valid_authority(headers.get(b"host") or b""):
        raise ProtocolError(400, "invalid Host field")


def parse_response(line: bytes, block: bytes) -> ResponseHead:
    """A status line and its header block; every error is the upstream's (502)."""
    version, status, reason = parse_status_line(line)
    return ResponseHead(version, status, reason, parse_fields(block, 502))


def parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """(version, status, reason) of a status line; ProtocolError 502."""
    version = _version(line[:8], 502)
    code = line[9:12]
    if line[8:9] != b" " or len(code) != 3 or code.translate(None, _DIGITS):
        raise ProtocolError(502, "malformed status line")
    status = int(code)
    if not 100 <= status <= 599:
        raise ProtocolError(502, "status code out of range")
    # The SP before an empty reason is required by RFC 9112 4, but enough servers omit
    # it that every major client accepts its absence; the reason carries no meaning.
    rest = line[12:]
    if rest and rest[0] != 0x20:
        raise ProtocolError(502, "malformed status line")
    reason = rest[1:]
    if reason.translate(None, FIELD_VALUE_OK):
        raise ProtocolError(502, "control character in reason phrase")
    return version, status, reason


def parse_fields(block: bytes, status: int) -> Headers:
    """Field lines joined by CRLF (no final CRLF) -> Headers; errors carry `status`."""
    if not block:
        return EMPTY_HEADERS
    check_field_bytes(block, status)
    lines = block.split(b"\r\n")
    names: list[bytes] = []
    values: list[bytes] = []
    for line in lines:
        colon = line.find(b":")
        if colon <= 0:
            raise _field_line_error(line, status)
        names.append(line[:colon])
        values.append(line[colon + 1 :].strip(b" \t"))
    joined = b"\n".join(names)
    if joined.translate(None, _NAMES_OK):
        for line in lines:
            name = line[: line.find(b":")]
            if name.translate(None, TOKEN_OK):
                raise _field_line_error(line, status)
    return Headers._trusted(tuple(names), tuple(joined.lower().split(b"\n")), tuple(values))


def check_field_bytes(block: bytes, status: int) -> None:
    """No byte outside field-content in a header block, and CR and LF only as CRLF pairs."""
    if block.translate(None, HEAD_BLOCK_OK):
        raise ProtocolError(status, "control character in header section")
    breaks = block.count(b"\r\n")
    if block.count(b"\r") != breaks or block.count(b"\n") != breaks:
        raise ProtocolError(status, "bare CR or LF in header section")


def _field_line_error(line: bytes, status: int) -> ProtocolError:
    if line[:1] in (b" ", b"\t"):
        # obs-fold (RFC 9112 5.2) or whitespace before the first field (2.2): either way
        # a recipient that unfolds would see a different field than one that does not.
        return ProtocolError(status, "obsolete line folding or leading whitespace in field line")
    colon = line.find(b":")
    if colon < 0:
        return ProtocolError(status, "field line without a colon")
    if colon == 0:
        return ProtocolError(status, "empty field name")
    if line[colon - 1 : colon] in (b" ", b"\t"):
        # RFC 9112 5.1: MUST reject; "Host :x" is how header-smuggling exploits begin.
        return ProtocolError(status, "whitespace between field name and colon")
    return ProtocolError(status, "invalid character in field name")


def _version(raw: bytes, status: int) -> bytes:
    if raw == b"HTTP/1.1":
        return HTTP_11
    if raw == b"HTTP/1.0":
        return HTTP_10
    digits = raw[5:6] + raw[7:8]
    if len(raw) == 8 and raw.startswith(b"HTTP/") and raw[6] == 0x2E and not digits.translate(None, _DIGITS):
        # Well-formed but not HTTP/1.x as we speak it (2.0 preface, 0.9, 1.2...).
        raise ProtocolError(505 if status == 400 else status, "unsupported HTTP version")
    raise ProtocolError(status, "malformed HTTP version")
