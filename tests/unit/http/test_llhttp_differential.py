"""Differential properties: llhttp's head readers and the pure-Python ones agree on every input.

Valid heads are generated, then mutated where parsers tend to differ (line ends, spaces,
tabs, NUL, obs-fold, duplicate and conflicting Content-Length and Transfer-Encoding,
lines at the limits), and fed to both readers in random chunkings; mesh.http.differential
raises on any difference in head, framing, bytes after the head, or ProtocolError.
Derandomized (no example database), so a run is the same run in CI.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.http import DEFAULT_LIMITS, Limits
from mesh.http.differential import compare_request, compare_response, split
from mesh.http.grammar import TARGET_OK, TOKEN_OK

DIFFERENTIAL = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SMALL = Limits(max_request_line=48, max_header_bytes=160, max_header_count=6)
LIMITS = st.sampled_from([DEFAULT_LIMITS, SMALL])
NASTY = [b"\r", b"\n", b"\r\n", b" ", b"  ", b"\t", b"\x00", b"\x7f", b"\x80", b"\xff", b":", b",", b";", b"#", b"@"]

tokens = st.binary(min_size=1, max_size=8).map(lambda b: bytes(TOKEN_OK[x % len(TOKEN_OK)] for x in b))
values = st.binary(max_size=12).map(lambda b: bytes(0x20 + x % 0x5F for x in b))  # printable ASCII, SP included
paths = st.binary(max_size=24).map(lambda b: b"/" + bytes(TARGET_OK[x % len(TARGET_OK)] for x in b))
targets = st.one_of(
    paths,
    st.sampled_from([b"*", b"http://app:80/x?y", b"https://[::1]/", b"app:443", b"HTTP://A/", b"/a b", b"//x"]),
)
methods = st.sampled_from(
    [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"PURGE", b"FOO", b"get"]
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b"HTTP/11"])
# Fields that decide framing or routing, in the shapes that smuggling tries.
framing_fields = st.sampled_from(
    [
        (b"Content-Length", b"5"),
        (b"Content-Length", b"05"),
        (b"Content-Length", b"5, 5"),
        (b"Content-Length", b"+5"),
        (b"Content-Length", b"-1"),
        (b"Content-Length", b"99999999999999999999"),
        (b"Content-Length", b""),
        (b"Transfer-Encoding", b"chunked"),
        (b"Transfer-Encoding", b"gzip, chunked"),
        (b"Transfer-Encoding", b"chunked, chunked"),
        (b"Transfer-Encoding", b"chunked, identity"),
        (b"Transfer-Encoding", b"identity"),
        (b"Transfer-Encoding", b"Chunked"),
        (b"transfer-encoding", b" chunked "),
        (b"Host", b"app.internal"),
        (b"Host", b"a b"),
        (b"Host", b""),
        (b"Host", b"user@app"),
        (b"Connection", b"upgrade"),
        (b"Upgrade", b"websocket"),
        (b"Expect", b"100-continue"),
    ]
)
fields = st.lists(st.one_of(st.tuples(tokens, values), framing_fields), max_size=8)
separators = st.sampled_from([b":", b": ", b":\t", b":  ", b" :", b":\x00"])


def field_lines(draw: st.DrawFn, pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(n + draw(separators) + v + draw(st.sampled_from([b"", b" ", b"\t"])) + b"\r\n" for n, v in pairs)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    pairs = draw(fields)
    if draw(st.booleans()):
        pairs = [(b"Host", b"app"), *pairs]
    leading = b"\r\n" * draw(st.integers(0, 2))
    line = draw(methods) + b" " + draw(targets) + b" " + draw(versions)
    return leading + line + b"\r\n" + field_lines(draw, pairs) + b"\r\n" + draw(st.binary(max_size=16))


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.one_of(st.integers(100, 599), st.sampled_from([0, 99, 600, 999, 1000])))
    reason = draw(st.sampled_from([b" OK", b"", b" ", b"  two", b" a\tb", b" \x80", b"OK"]))
    line = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 "])) + b" %d" % status + reason
    return line + b"\r\n" + field_lines(draw, draw(fields)) + b"\r\n" + draw(st.binary(max_size=16))


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "fold", "duplicate line", "long"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(NASTY))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 3))]
        elif op == "replace" and at < len(data):
            data[at : at + 1] = draw(st.sampled_from(NASTY))
        elif op == "fold":
            data[at:at] = b"\r\n" + draw(st.sampled_from([b" ", b"\t"])) + b"x"
        elif op == "duplicate line":
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            if end > start:
                data[end + 1 : end + 1] = data[start : end + 1]
        elif op == "long":
            # Right at a limit of either set: the request line, the header section, a field.
            size = draw(st.sampled_from([46, 47, 48, 49, 158, 159, 160, 161, 16 * 1024 - 20, 60 * 1024]))
            data[at:at] = b"a" * size
    return bytes(data)


cuts = st.lists(st.integers(0, 100_000), max_size=12)


@DIFFERENTIAL
@given(st.one_of(requests(), mutated(requests())), cuts, LIMITS)
def test_request_readers_agree_however_split(raw: bytes, cuts: list[int], limits: Limits) -> None:
    compare_request([raw], limits)
    compare_request(split(raw, cuts), limits)
    compare_request(split(raw, cuts), limits, eof=False)


@DIFFERENTIAL
@given(st.one_of(responses(), mutated(responses())), cuts, LIMITS, st.sampled_from([b"GET", b"HEAD", b"CONNECT"]))
def test_response_readers_agree_however_split(raw: bytes, cuts: list[int], limits: Limits, method: bytes) -> None:
    compare_response([raw], limits, method)
    compare_response(split(raw, cuts), limits, method)


@DIFFERENTIAL
@given(st.binary(max_size=200), cuts)
def test_readers_agree_on_arbitrary_bytes(raw: bytes, cuts: list[int]) -> None:
    compare_request(split(raw, cuts), SMALL)
    compare_response(split(raw, cuts), SMALL)


def test_valid_requests_are_accepted_by_both_with_the_same_head() -> None:
    got = compare_request(
        [b"\r\nPURGE http://[::1]:8/c?k HTTP/1.1\r\nHost: [::1]:8\r\nX-Ws: \t v \t\r\nX-E:\r\n\r\nnext"]
    )
    assert got.head is not None
    assert got.rest == b"next"
    assert list(got.head.headers) == [(b"Host", b"[::1]:8"), (b"X-Ws", b"v"), (b"X-E", b"")]


REQUEST = b"GET /p?q HTTP/1.1\r\nHost: a:1\r\nX-N: v w\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nX-N: v w\r\nContent-Length: 0\r\n\r\n"


def test_readers_agree_on_every_byte_inserted_or_replaced_at_every_position() -> None:
    # Exhaustive where a generator would sample: all 256 byte values at each offset of a
    # small request and response, which is where llhttp's and the mesh's byte classes meet.
    for base, compare in ((REQUEST, compare_request), (RESPONSE, compare_response)):
        for at in range(len(base) - 2):
            for byte in range(256):
                b = bytes([byte])
                compare([base[:at] + b + base[at:]])
                compare([base[:at] + b + base[at + 1 :]])
