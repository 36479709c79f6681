"""Incremental head readers: feed bytes as they arrive, get a head and the bytes after it.

Line ends are strict CRLF. RFC 9112 2.2 lets a recipient accept a bare LF, but a proxy
that accepts one in front of an app that does not (or the reverse) disagrees with it
about where the head ends, which is the root of request smuggling; so a bare LF (or CR)
anywhere in a head is a 400. Empty lines before a request line are skipped, as RFC 9112
2.2 asks, and count against the request-line limit.

Limits are checked on every feed, so a head that never ends is refused once it crosses
a limit, not when it completes. Every check depends only on the bytes received so far,
in order, so the outcome never depends on how the bytes were split into chunks (the
property tests hold the readers to that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from mesh.http.errors import ProtocolError
from mesh.http.head_syntax import parse_request, parse_response
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.messages import RequestHead, ResponseHead

H = TypeVar("H", RequestHead, ResponseHead)

_CR = 0x0D


class HeadReader(Generic[H]):
    """Reads one message head; use RequestHeadReader or ResponseHeadReader."""

    __slots__ = (
        "_buf",
        "_count",
        "_done",
        "_limits",
        "_line_end",
        "_parse",
        "_pos",
        "_searched",
        "_skip_empty",
        "_start",
        "_statuses",
    )

    def __init__(
        self,
        limits: Limits,
        parse: Callable[[bytes, bytes], H],
        statuses: tuple[int, int, int],
        skip_empty: bool,
    ) -> None:
        self._limits = limits
        self._parse: Callable[[bytes, bytes], H] = parse
        self._statuses = statuses  # (start line too long, header section too large, malformed)
        self._skip_empty = skip_empty
        self._buf = bytearray()
        self._start = 0  # where the start line begins
        self._line_end = -1  # where its CRLF begins, once found
        self._pos = 0  # where the line being searched begins
        self._searched = 0  # no LF before here past _pos: a head trickling in is scanned once
        self._count = 0  # field lines seen
        self._done = False

    @property
    def started(self) -> bool:
        """True once a byte of a message (beyond skipped empty lines) was received.

        EOF while False is a clean close; EOF while True is a truncated head.
        """
        return len(self._buf) > self._pos if self._line_end < 0 else True

    def feed(self, data: bytes) -> tuple[H, bytes] | None:
        """Add bytes; return (head, bytes after the head) once complete, else None (need more).

        Raises ProtocolError when the head is invalid or crosses a limit. A reader reads
        one head; make a new one for the next message.
        """
        if self._done:
            raise RuntimeError("this reader already returned its head or refused it")
        try:
            if not self._buf:
                found = self._whole(data)
                if found is not None:
                    return self._finish(*found)
            self._buf += data
            found = self._scan()
            return None if found is None else self._finish(*found)
        except ProtocolError:
            self._done = True  # refused for good: later bytes must not revive it
            raise

    def feed_eof(self) -> None:
        """The peer closed: fine between messages, a ProtocolError in the middle of a head."""
        if self.started and not self._done:
            raise ProtocolError(self._statuses[2], "connection closed in the middle of a message head")

    def _finish(self, line: bytes, block: bytes, rest: bytes) -> tuple[H, bytes]:
        self._done = True
        self._buf = bytearray()
        return self._parse(line, block), rest

    def _whole(self, data: bytes) -> tuple[bytes, bytes, bytes] | None:
        """Fast path for a head that arrived in one piece; None defers to `_scan`.

        Accepts exactly what `_scan` accepts: on anything unusual (incomplete, a bare LF,
        a limit crossed) it returns None and `_scan` finds the first problem in order.
        """
        limits = self._limits
        p = 0
        if self._skip_empty:
            while data.startswith(b"\r\n", p):
                p += 2
        i = data.find(b"\r\n", p, limits.max_request_line + 2)
        if i < 0:
            return None
        end = data.find(b"\r\n\r\n", i, i + 2 + limits.max_header_bytes)
        if end < 0:
            return None
        head_end = end + 4
        if data.count(b"\n", 0, head_end) != data.count(b"\r\n", 0, head_end):
            return None
        if data.count(b"\r\n", i + 2, end + 2) > limits.max_header_count:
            return None
        return data[p:i], data[i + 2 : end], data[head_end:]

    def _scan(self) -> tuple[bytes, bytes, bytes] | None:
        """Resume from where the last feed stopped, one line at a time."""
        buf = self._buf
        limits = self._limits
        too_long, too_large, malformed = self._statuses
        if self._line_end < 0:
            window = limits.max_request_line + 2
            while True:
                j = buf.find(b"\n", max(self._pos, self._searched), window)
                if j < 0:
                    if len(buf) >= window:
                        raise ProtocolError(too_long, "start line too long")
                    self._searched = len(buf)
                    return None
                if j == 0 or buf[j - 1] != _CR:
                    raise ProtocolError(malformed, "bare LF in message head")
                if j - 1 == self._pos and self._skip_empty:
                    self._pos = j + 1
                    continue
                self._start, self._line_end, self._pos = self._pos, j - 1, j + 1
                break
        fields_start = self._line_end + 2
        window = fields_start + limits.max_header_bytes
        while True:
            j = buf.find(b"\n", max(self._pos, self._searched), window)
            if j < 0:
                if len(buf) >= window:
                    raise ProtocolError(too_large, "header section too large")
                self._searched = len(buf)
                return None
            if buf[j - 1] != _CR:
                raise ProtocolError(malformed, "bare LF in message head")
            if j - 1 == self._pos:
                block = bytes(buf[fields_start : self._pos - 2]) if self._pos > fields_start else b""
                return bytes(buf[self._start : self._line_end]), block, bytes(buf[j + 1 :])
            self._count += 1
            if self._count > limits.max_header_count:
                raise ProtocolError(too_large, "too many header fields")
            self._pos = j + 1


class RequestHeadReader(HeadReader[RequestHead]):
    """Reads one request head. Errors: 414 request line, 431 headers, 400/501/505 syntax."""

    __slots__ = ()

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits, parse_request, (414, 431, 400), skip_empty=True)


class ResponseHeadReader(HeadReader[ResponseHead]):
    """Reads one response head. Every error is the upstream's: 502."""

    __slots__ = ()

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits, parse_response, (502, 502, 502), skip_empty=False)


def parse_request_head(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[RequestHead, bytes] | None:
    """One-shot: (head, rest) when `data` holds a whole request head, None when it needs more."""
    return RequestHeadReader(limits).feed(data)


def parse_response_head(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[ResponseHead, bytes] | None:
    """One-shot: (head, rest) when `data` holds a whole response head, None when it needs more."""
    return ResponseHeadReader(limits).feed(data)
