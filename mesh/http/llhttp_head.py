"""Message heads parsed by llhttp (the C parser Node.js uses, through httptools), held to the mesh's rules.

The readers here are `HeadReader`s like the pure-Python ones in mesh.http.head_reader and
share its scan: where a head ends, the strict CRLF rule, and the limits checked on every
feed (so a head that never ends is refused once it crosses a limit, and no outcome depends
on how the bytes were split). What changes is the parse of a complete head: llhttp checks
the field lines' grammar (token names, no whitespace before the colon, no obs-fold, field
values without control characters) and hands over names and values, in place of the
per-field Python loop of head_syntax.parse_fields.

Where llhttp is more lenient, the mesh's own checks run around it: exactly one SP between
the request line's parts (llhttp takes several), uppercase token methods (llhttp skips a
stray CR before one), only HTTP/1.0 and 1.1 (llhttp takes 0.9 and 2.0), the target's form
for the method (llhttp takes a `#`), one valid Host field (llhttp leaves it to the
caller), and the status line (llhttp takes any three digits and control characters in the
reason). Framing stays with mesh.http.framing: `gzip, chunked` is our 501 and
Transfer-Encoding in HTTP/1.0 our 400, where llhttp accepts both.

A refused head is named by the pure-Python parser, so both give the same ProtocolError,
status and reason, whichever refused first. Where llhttp is stricter, RFC 9110/9112 sides
with the mesh, so the mesh's rules hold:
- methods: llhttp knows a fixed list, RFC 9110 9.1 lets a proxy forward any token (the
  app answers 501 if it does not know it), so a head llhttp refused only for its method
  is checked again with a method it knows in its place;
- Content-Length and Transfer-Encoding: llhttp judges them while parsing, even where
  RFC 9112 6.3 says they frame nothing (a 304, a response to HEAD), so a head llhttp
  refused is checked again without those field lines and framing.py decides; what
  llhttp raises once the head is complete (its view of a request's Transfer-Encoding, a
  pause for a 101 without `Connection: upgrade`) concerns the body, framing.py's too.
A head that llhttp still refuses but the pure parser accepts is refused (400, or 502 for a
response) with llhttp's reason: the two disagree, and the differential tests and the fuzz
target (fuzz/http_heads.py) exist to find such heads; each one found is a bug to fix.

Only heads move to llhttp; bodies are still read by mesh.http.body (httptools reports no
position within the bytes it was fed, so the end of a body inside a buffer, where a
pipelined request begins, could not be found).
"""

from __future__ import annotations

from httptools import (
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserUpgrade,
    HttpRequestParser,
    HttpResponseParser,
)

from mesh.http import head_syntax
from mesh.http.errors import ProtocolError
from mesh.http.grammar import LOWERCASE, TOKEN_OK
from mesh.http.head_reader import HeadReader
from mesh.http.head_syntax import check_host, parse_fields, parse_request_line, parse_status_line
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.messages import HTTP_10, HTTP_11, RequestHead, ResponseHead
from mesh.http.target import is_valid_authority, target_form

_FRAMING_FIELDS = (b"content-length", b"transfer-encoding")
_VERSIONS = {b"HTTP/1.1": HTTP_11, b"HTTP/1.0": HTTP_10}
_METHOD_OK = bytes(set(TOKEN_OK) - set(LOWERCASE))  # uppercase tokens, as head_syntax wants
_KNOWN_METHOD = b"POST"  # any method llhttp knows that takes an origin-form target


class _Fields:
    """The httptools callbacks: collects the field lines llhttp parsed."""

    __slots__ = ("complete", "names", "values")

    def __init__(self) -> None:
        self.names: list[bytes] = []
        self.values: list[bytes] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.names.append(name)
        self.values.append(value)

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_request(line: bytes, block: bytes) -> RequestHead:
    """A request line and its header block (as the head scan cut them), parsed by llhttp."""
    parts = line.split(b" ")
    if len(parts) == 3:  # exactly one SP between the parts: llhttp takes any number
        method, target, raw_version = parts
        version = _VERSIONS.get(raw_version)  # llhttp takes 0.9 and 2.0 too
        # llhttp skips a CR or LF before the method; we skip only whole empty lines.
        if version is not None and method and not method.translate(None, _METHOD_OK):
            fields = _Fields()
            refused = _run(HttpRequestParser(fields), _head(line, block), fields)
            if refused is None:
                # llhttp checked the field lines; what it leaves is the target's form
                # and the Host field.
                target_form(method, target)
                headers = _headers(fields, block)
                lower = headers._lower
                if lower.count(b"host") != 1 or not is_valid_authority(headers._values[lower.index(b"host")]):
                    check_host(headers, version)  # raises, but for HTTP/1.0 without Host
                return RequestHead(method, target, version, headers)
            return _request_refused(line, block, refused)
    return head_syntax.parse_request(line, block)  # raises: the request line is not ours


def parse_response(line: bytes, block: bytes) -> ResponseHead:
    """A status line and its header block, parsed by llhttp; every error is a 502."""
    version, status, reason = parse_status_line(line)  # llhttp takes any 3 digits and CTLs in the reason
    fields = _Fields()
    refused = _run(HttpResponseParser(fields), _head(line, block), fields)
    if refused is not None:
        return _response_refused(line, block, refused)
    return ResponseHead(version, status, reason, _headers(fields, block))


class LlhttpRequestHeadReader(HeadReader[RequestHead]):
    """RequestHeadReader with llhttp parsing the head: the same heads and the same errors."""

    __slots__ = ()

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits, parse_request, (414, 431, 400), skip_empty=True)


class LlhttpResponseHeadReader(HeadReader[ResponseHead]):
    """ResponseHeadReader with llhttp parsing the head: the same heads and the same errors."""

    __slots__ = ()

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits, parse_response, (502, 502, 502), skip_empty=False)


def _head(line: bytes, block: bytes) -> bytes:
    return line + b"\r\n" + block + b"\r\n\r\n" if block else line + b"\r\n\r\n"


def _run(parser: HttpRequestParser | HttpResponseParser, head: bytes, fields: _Fields) -> HttpParserError | None:
    """Feed one complete head; None when llhttp accepted it, else its error."""
    try:
        parser.feed_data(head)
    except HttpParserUpgrade:
        pass  # CONNECT, or an Upgrade: llhttp stops after the head, which is all it was given
    except HttpParserError as error:
        if not fields.complete:
            return error
        # Raised after the head was parsed: llhttp's view of how the body is framed (an
        # invalid Transfer-Encoding in a request) or a pause for a 101 without
        # `Connection: upgrade`. The body's framing is framing.py's to decide.
    if not fields.complete:
        # The scan found the end of the head where llhttp did not: a disagreement, never
        # seen; refused rather than trusted.
        return HttpParserError("llhttp did not reach the end of the head")
    return None


def _headers(fields: _Fields, block: bytes) -> Headers:
    names = fields.names
    if not names:
        return EMPTY_HEADERS
    values = fields.values
    # llhttp drops the whitespace before a value but keeps what follows it (RFC 9110 5.5:
    # OWS around a value is not part of it); the block says whether any value has some.
    # (find, not `in`: bytes.__contains__ tries the argument as an int first, which costs
    # an exception raised and cleared in C.)
    if block.find(b" \r\n") >= 0 or block.find(b"\t\r\n") >= 0 or block[-1] in b" \t":
        values = [v.rstrip(b" \t") for v in values]
    # Names are tokens, so none holds the LF: one join lowercases them all in C.
    lower = tuple(b"\n".join(names).lower().split(b"\n"))
    return Headers._trusted(tuple(names), lower, tuple(values))


def _request_refused(line: bytes, block: bytes, refused: HttpParserError) -> RequestHead:
    """The pure parser names the error; if it finds none, see the module docstring."""
    method, target, version = parse_request_line(line)
    headers = parse_fields(block, 400)
    check_host(headers, version)
    retry_line = line
    if isinstance(refused, HttpParserInvalidMethodError):
        retry_line = _KNOWN_METHOD + line[len(method) :]
    retry_block = _without_framing_fields(block)
    if (retry_line, retry_block) != (line, block):
        fields = _Fields()
        still = _run(HttpRequestParser(fields), _head(retry_line, retry_block), fields)
        if still is None:
            return RequestHead(method, target, version, headers)
        refused = still
    raise ProtocolError(400, f"refused by llhttp: {refused}")


def _response_refused(line: bytes, block: bytes, refused: HttpParserError) -> ResponseHead:
    version, status, reason = parse_status_line(line)
    headers = parse_fields(block, 502)
    retry_block = _without_framing_fields(block)
    if retry_block != block:
        fields = _Fields()
        still = _run(HttpResponseParser(fields), _head(line, retry_block), fields)
        if still is None:
            return ResponseHead(version, status, reason, headers)
        refused = still
    raise ProtocolError(502, f"refused by llhttp: {refused}")


def _without_framing_fields(block: bytes) -> bytes:
    """`block` less its Content-Length and Transfer-Encoding lines (it parsed, so every line has a name)."""
    lines = block.split(b"\r\n")
    kept = [ln for ln in lines if ln[: ln.find(b":")].lower() not in _FRAMING_FIELDS]
    return block if len(kept) == len(lines) else b"\r\n".join(kept)
