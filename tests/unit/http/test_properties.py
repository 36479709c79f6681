"""Properties: chunk boundaries never change an outcome, and no input escapes as a crash.

"Outcome" is the head and every byte after it, need-more, or the exact ProtocolError.
Small limits make the size checks reachable from short inputs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.http import (
    ChunkedReader,
    Event,
    Headers,
    Limits,
    ProtocolError,
    RequestHead,
    RequestHeadReader,
    ResponseHeadReader,
    encode_chunk,
    encode_last_chunk,
)
from mesh.http.grammar import TARGET_OK, TOKEN_OK

PROPERTY = settings(max_examples=200, deadline=None)
SMALL = Limits(
    max_request_line=48,
    max_header_bytes=160,
    max_header_count=6,
    max_chunk_line=24,
    max_chunk_extensions=40,
    max_trailer_bytes=48,
)
# Bytes that sit on parsing decisions: line ends, separators, controls, high bytes.
NASTY = b'\r\n\t :;,="\\\x00\x01\x7f\x80\xff#@/?aZ09-'

tokens = st.binary(min_size=1, max_size=8).map(lambda b: bytes(TOKEN_OK[x % len(TOKEN_OK)] for x in b))
values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12).map(str.encode)
paths = st.binary(max_size=24).map(lambda b: b"/" + bytes(TARGET_OK[x % len(TARGET_OK)] for x in b))


@dataclass(frozen=True)
class Outcome:
    head: object | None = None
    rest: bytes = b""
    error: ProtocolError | None = None


def run_head_reader(reader: RequestHeadReader | ResponseHeadReader, chunks: list[bytes]) -> Outcome:
    for i, chunk in enumerate(chunks):
        try:
            got = reader.feed(chunk)
        except ProtocolError as error:
            return Outcome(error=error)
        if got is not None:
            return Outcome(head=got[0], rest=got[1] + b"".join(chunks[i + 1 :]))
    return Outcome()


def run_chunked(chunks: list[bytes]) -> tuple[list[bytes], object, bytes, ProtocolError | None]:
    reader = ChunkedReader(SMALL)
    events: list[Event] = []
    try:
        for chunk in chunks:
            events += reader.feed(chunk)
    except ProtocolError as error:
        return [], None, b"", error
    data = b"".join(getattr(e, "data", b"") for e in events)
    ends = [e for e in events if not hasattr(e, "data")]
    return [data], ends, reader.leftover, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[bytes, RequestHead, bytes]:
    method = draw(st.sampled_from([b"GET", b"POST", b"DELETE", b"PURGE"]))
    target = draw(paths)
    fields = [
        (b"Host", b"app.internal"),
        *draw(st.lists(st.tuples(tokens.filter(lambda t: t.lower() != b"host"), values), max_size=6)),
    ]
    fields = draw(st.permutations(fields))
    leading = b"\r\n" * draw(st.integers(0, 2))
    rest = draw(st.binary(max_size=24))
    raw = leading + method + b" " + target + b" HTTP/1.1\r\n"
    raw += b"".join(n + b":" + draw(st.sampled_from([b"", b" ", b"\t "])) + v + b"\r\n" for n, v in fields)
    return raw + b"\r\n" + rest, RequestHead(method, target, b"1.1", Headers(fields)), rest


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(NASTY))
        if op == "insert":
            data.insert(at, byte)
        elif at < len(data):
            if op == "delete":
                del data[at]
            else:
                data[at] = byte
    return bytes(data)


request_bytes = valid_requests().map(lambda r: r[0])
any_request_bytes = st.one_of(mutated(request_bytes), st.binary(max_size=120))
response_bytes = st.builds(
    lambda status, fields, rest: (
        b"HTTP/1.1 %d OK\r\n" % status + b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n" + rest
    ),
    st.integers(100, 599),
    st.lists(st.tuples(tokens, values), max_size=5),
    st.binary(max_size=16),
)
chunked_bodies = st.builds(
    lambda chunks, exts, trailers, rest: (
        b"".join(
            encode_chunk(c)[:-2].replace(b"\r\n", (b";" + e if e else b"") + b"\r\n", 1) + b"\r\n" if c else b""
            for c, e in zip(chunks, exts, strict=False)
        )
        + encode_last_chunk(Headers(trailers))
        + rest
    ),
    st.lists(st.binary(min_size=1, max_size=20), max_size=5),
    st.lists(st.sampled_from([b"", b"a", b"a=b", b'q="x y"']), min_size=5, max_size=5),
    st.lists(st.tuples(tokens, values), max_size=3),
    st.binary(max_size=8),
)


@PROPERTY
@given(valid_requests())
def test_a_valid_request_parses_to_what_was_written(case: tuple[bytes, RequestHead, bytes]) -> None:
    raw, expected, rest = case
    assert run_head_reader(RequestHeadReader(), [raw]) == Outcome(head=expected, rest=rest)


@PROPERTY
@given(request_bytes, st.lists(st.integers(0, 10_000), max_size=12))
def test_splitting_a_valid_request_anywhere_gives_the_one_shot_result(raw: bytes, cuts: list[int]) -> None:
    one_shot = run_head_reader(RequestHeadReader(), [raw])
    assert one_shot.head is not None
    assert run_head_reader(RequestHeadReader(), split(raw, cuts)) == one_shot


@PROPERTY
@given(any_request_bytes, st.lists(st.integers(0, 10_000), max_size=12))
def test_any_bytes_give_a_head_need_more_or_protocol_error_however_split(raw: bytes, cuts: list[int]) -> None:
    one_shot = run_head_reader(RequestHeadReader(SMALL), [raw])
    assert run_head_reader(RequestHeadReader(SMALL), split(raw, cuts)) == one_shot
    assert run_head_reader(RequestHeadReader(SMALL), [bytes([b]) for b in raw]) == one_shot


@PROPERTY
@given(st.one_of(mutated(response_bytes), st.binary(max_size=120)), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_response_bytes_give_the_same_outcome_however_split(raw: bytes, cuts: list[int]) -> None:
    one_shot = run_head_reader(ResponseHeadReader(SMALL), [raw])
    assert run_head_reader(ResponseHeadReader(SMALL), split(raw, cuts)) == one_shot
    if one_shot.error is not None:
        assert one_shot.error.status_hint == 502


@PROPERTY
@given(st.one_of(chunked_bodies, mutated(chunked_bodies), st.binary(max_size=80)), st.lists(st.integers(0, 1000)))
def test_any_chunked_bytes_decode_the_same_however_split(raw: bytes, cuts: list[int]) -> None:
    one_shot = run_chunked([raw])
    assert run_chunked(split(raw, cuts)) == one_shot
    assert run_chunked([bytes([b]) for b in raw]) == one_shot
