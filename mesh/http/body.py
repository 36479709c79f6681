"""Body readers: feed bytes, get `Data` events and one `EndOfMessage`, no I/O.

Every reader has the same interface (`BodyReader`): `feed(data)` returns the events the
new bytes complete (possibly none), `feed_eof()` those that a close completes (or raises
when the body was cut short), and once the message has ended, `leftover` holds the bytes
that followed it (the start of a pipelined message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from mesh.http.errors import ProtocolError
from mesh.http.framing import Chunked, ContentLength, Framing, NoBody, UntilClose
from mesh.http.grammar import HEXDIG_OK
from mesh.http.head_syntax import parse_fields
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class Data:
    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    trailers: Headers = EMPTY_HEADERS


Event = Data | EndOfMessage


class BodyReader(Protocol):
    @property
    def done(self) -> bool: ...

    @property
    def leftover(self) -> bytes: ...

    def feed(self, data: bytes) -> list[Event]: ...

    def feed_eof(self) -> list[Event]: ...


def body_reader(framing: Framing, limits: Limits = DEFAULT_LIMITS, *, error_status: int = 400) -> BodyReader:
    """The reader for `framing`. `error_status` goes on ProtocolErrors: 400 for a request
    body, 502 for a response body."""
    match framing:
        case ContentLength(length):
            return ContentLengthReader(length, error_status=error_status)
        case NoBody():
            return ContentLengthReader(0, error_status=error_status)
        case Chunked():
            return ChunkedReader(limits, error_status=error_status)
        case UntilClose():
            return UntilCloseReader()


class ContentLengthReader:
    """Exactly `length` bytes; `EndOfMessage` comes with the last of them (at once for 0)."""

    __slots__ = ("_done", "_error_status", "_leftover", "_remaining")

    def __init__(self, length: int, *, error_status: int = 400) -> None:
        self._remaining = length
        self._error_status = error_status
        self._leftover = b""
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def leftover(self) -> bytes:
        return self._leftover

    @property
    def remaining(self) -> int:
        return self._remaining

    def feed(self, data: bytes) -> list[Event]:
        if self._done:
            self._leftover += data
            return []
        n = self._remaining
        if len(data) < n:
            self._remaining = n - len(data)
            return [Data(data)] if data else []
        self._remaining = 0
        self._done = True
        self._leftover = data[n:]
        return [Data(data[:n]), EndOfMessage()] if n else [EndOfMessage()]

    def feed_eof(self) -> list[Event]:
        if self._done:
            return []
        if self._remaining:
            raise ProtocolError(self._error_status, "connection closed before the end of the body")
        return self.feed(b"")


class UntilCloseReader:
    """Everything until the peer closes (a response without declared length)."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def leftover(self) -> bytes:
        return b""

    def feed(self, data: bytes) -> list[Event]:
        return [Data(data)] if data and not self._done else []

    def feed_eof(self) -> list[Event]:
        if self._done:
            return []
        self._done = True
        return [EndOfMessage()]


# chunk-ext (RFC 9112 7.1.1, with the BWS of erratum 4667): parsed to be sure the line
# is what it claims, then discarded. Each repetition must consume a ';', so matching is
# linear; the line is bounded by Limits.max_chunk_line anyway.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = re.compile(rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*")
_MAX_CHUNK_SIZE = 2**63 - 1

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedReader:
    """A chunked body (RFC 9112 7.1) as a state machine over a small buffer.

    Strict: chunk-size is 1*HEXDIG with nothing before it; extensions must parse; every
    line ends in CRLF and the data is followed by exactly CRLF; sizes above 2**63-1, a
    size line longer than Limits.max_chunk_line and a trailer section larger than
    Limits.max_trailer_bytes are refused. Chunk data never sits in the buffer: it is
    handed out as it arrives.
    """

    __slots__ = (
        "_buf",
        "_error_status",
        "_ext_bytes",
        "_limits",
        "_remaining",
        "_state",
        "_tail",
        "_tail_count",
        "_tail_line",
        "_tail_searched",
        "_trailers",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, error_status: int = 400) -> None:
        self._limits = limits
        self._error_status = error_status
        self._buf = b""
        self._state = _SIZE
        self._remaining = 0
        self._ext_bytes = 0
        self._trailers = EMPTY_HEADERS
        # The trailer section accumulates apart, scanned line by line as it arrives (like
        # a head), so a trailer trickling in byte by byte costs linear time.
        self._tail = bytearray()
        self._tail_line = 0  # where the current trailer line begins
        self._tail_searched = 0  # no LF before here
        self._tail_count = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def leftover(self) -> bytes:
        return self._buf if self._state == _DONE else b""

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf + data if self._buf else data
        events: list[Event] = []
        pos = 0
        end = len(buf)
        while pos < end and self._state != _DONE:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                events.append(Data(buf[pos : pos + take]))
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _DATA_END
            elif state == _DATA_END:
                got = buf[pos : pos + 2]
                if got != b"\r\n"[: len(got)]:
                    raise self._error("chunk data not followed by CRLF")
                if len(got) < 2:
                    break
                pos += 2
                self._state = _SIZE
            elif state == _SIZE:
                nl = buf.find(b"\n", pos, pos + self._limits.max_chunk_line)
                if nl < 0:
                    if end - pos >= self._limits.max_chunk_line:
                        raise self._error("chunk-size line too long")
                    break
                self._size_line(buf[pos:nl])
                pos = nl + 1
            else:  # _TRAILER
                self._tail += buf[pos:]
                pos = end
                at = self._trailer_end()
                if at >= 0:
                    events.append(EndOfMessage(self._trailers))
                    buf, pos = bytes(self._tail[at:]), 0
                    self._tail = bytearray()
        self._buf = buf[pos:]
        return events

    def feed_eof(self) -> list[Event]:
        if self._state != _DONE:
            raise ProtocolError(self._error_status, "connection closed before the end of the chunked body")
        return []

    def _size_line(self, line: bytes) -> None:
        if not line.endswith(b"\r"):
            raise self._error("bare LF after chunk-size")
        size_hex = line[:-1]
        if size_hex.translate(None, HEXDIG_OK):
            # Something follows the size: only chunk extensions may (BWS before ';').
            cut = len(size_hex)
            for sep in (b";", b" ", b"\t"):
                at = size_hex.find(sep, 0, cut)
                if at >= 0:
                    cut = at
            size_hex, ext = size_hex[:cut], size_hex[cut:]
            if not size_hex or size_hex.translate(None, HEXDIG_OK) or not _CHUNK_EXT.fullmatch(ext):
                raise self._error("invalid chunk-size or chunk-extension")
            self._ext_bytes += len(ext)
            if self._ext_bytes > self._limits.max_chunk_extensions:
                raise self._error("too many chunk-extension bytes")
        elif not size_hex:
            raise self._error("empty chunk-size")
        if len(size_hex) > 16 and len(size_hex.lstrip(b"0")) > 16:
            raise self._error("chunk-size too large")  # before int() turns 4 KiB of hex into a bignum
        size = int(size_hex, 16)
        if size > _MAX_CHUNK_SIZE:
            raise self._error("chunk-size too large")
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._state = _TRAILER

    def _trailer_end(self) -> int:
        """Scan the trailer section's new lines; its end offset in `_tail`, or -1 for need more."""
        tail = self._tail
        limit = self._limits.max_trailer_bytes
        while True:
            j = tail.find(b"\n", max(self._tail_line, self._tail_searched), limit)
            if j < 0:
                if len(tail) >= limit:
                    raise self._error("trailer section too large")
                self._tail_searched = len(tail)
                return -1
            if j == 0 or tail[j - 1] != 0x0D:
                raise self._error("bare LF in trailer section")
            if j - 1 == self._tail_line:
                block = bytes(tail[: self._tail_line - 2]) if self._tail_line else b""
                self._trailers = parse_fields(block, self._error_status)
                self._state = _DONE
                return j + 1
            self._tail_count += 1
            if self._tail_count > self._limits.max_header_count:
                raise self._error("too many trailer fields")
            self._tail_line = j + 1

    def _error(self, reason: str) -> ProtocolError:
        return ProtocolError(self._error_status, reason)
