"""The differential check: llhttp's head readers against the pure-Python ones, on the same bytes.

mesh.http.llhttp_head promises the same heads, framings and errors as the pure-Python
codec it replaced, and the pure-Python codec stays as the oracle. This module runs both
over one input split into the same chunks, the way HttpReader drives them (feed chunk by
chunk, then the framing of the head, then EOF if the chunks ran out), and says whether
they agree. The property tests (tests/unit/http/test_llhttp_differential.py) and the fuzz
target (fuzz/http_heads.py) are its two callers; any disagreement is a bug in one parser.

No I/O and no test framework here, so the fuzz target needs nothing but the package.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mesh.http.errors import ProtocolError
from mesh.http.framing import Framing, framing_for_request, framing_for_response
from mesh.http.head_reader import HeadReader, RequestHeadReader, ResponseHeadReader
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.llhttp_head import LlhttpRequestHeadReader, LlhttpResponseHeadReader
from mesh.http.messages import RequestHead, ResponseHead

H = TypeVar("H", RequestHead, ResponseHead)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What HttpReader would make of the chunks: a head with its framing and the bytes after
    it, a refusal (the exact ProtocolError), a clean close (all None), or need-more."""

    head: RequestHead | ResponseHead | None = None
    framing: Framing | None = None
    rest: bytes = b""
    error: ProtocolError | None = None
    need_more: bool = False


class Disagreement(AssertionError):
    """The two parsers gave different outcomes for the same chunks."""


def request_outcome(reader: HeadReader[RequestHead], chunks: Sequence[bytes], *, eof: bool = True) -> Outcome:
    return _outcome(reader, chunks, framing_for_request, eof)


def response_outcome(
    reader: HeadReader[ResponseHead], chunks: Sequence[bytes], request_method: bytes = b"GET", *, eof: bool = True
) -> Outcome:
    return _outcome(reader, chunks, lambda head: framing_for_response(request_method, head), eof)


def compare_request(chunks: Sequence[bytes], limits: Limits = DEFAULT_LIMITS, *, eof: bool = True) -> Outcome:
    """Both request readers over `chunks`; their common outcome, or Disagreement."""
    expected = request_outcome(RequestHeadReader(limits), chunks, eof=eof)
    got = request_outcome(LlhttpRequestHeadReader(limits), chunks, eof=eof)
    return _agreed(expected, got, chunks)


def compare_response(
    chunks: Sequence[bytes], limits: Limits = DEFAULT_LIMITS, request_method: bytes = b"GET", *, eof: bool = True
) -> Outcome:
    """Both response readers over `chunks` (answering `request_method`); their common outcome."""
    expected = response_outcome(ResponseHeadReader(limits), chunks, request_method, eof=eof)
    got = response_outcome(LlhttpResponseHeadReader(limits), chunks, request_method, eof=eof)
    return _agreed(expected, got, chunks)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`data` cut at `cuts` (taken modulo its length + 1, so any integers do)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _agreed(expected: Outcome, got: Outcome, chunks: Sequence[bytes]) -> Outcome:
    if got != expected:
        raise Disagreement(f"chunks {list(chunks)!r}:\n  pure-Python: {expected}\n  llhttp:      {got}")
    return got


def _outcome(reader: HeadReader[H], chunks: Sequence[bytes], framing_of: Callable[[H], Framing], eof: bool) -> Outcome:
    for i, chunk in enumerate(chunks):
        try:
            got = reader.feed(chunk)
        except ProtocolError as error:
            return Outcome(error=error)
        if got is not None:
            head, rest = got
            rest += b"".join(chunks[i + 1 :])
            try:
                framing = framing_of(head)
            except ProtocolError as error:
                return Outcome(head=head, rest=rest, error=error)
            return Outcome(head=head, framing=framing, rest=rest)
    if not eof:
        return Outcome(need_more=True)
    try:
        reader.feed_eof()
    except ProtocolError as error:
        return Outcome(error=error)
    return Outcome()
