"""Fuzz target: llhttp's head readers against the pure-Python ones (mesh.http.differential).

Each input is read as a request and as a response, with the default limits and with small
ones (so the limit checks are reachable from short inputs), whole and cut into pieces of
a size taken from its first byte (1 to 16 bytes); both parsers must agree on every
outcome (head, framing, the bytes after the head, or the exact ProtocolError). Any other
exception, from either parser, is a crash too: the parsers raise nothing but ProtocolError.

Run for ten minutes over the seed corpus (docs/http-parsing.md):

    mkdir -p /tmp/http_heads_corpus  # new inputs go to the first directory, not the seeds
    .venv/bin/python fuzz/http_heads.py -max_total_time=600 -dict=fuzz/http_heads.dict \
        /tmp/http_heads_corpus fuzz/corpus/http_heads

A crash leaves its input as crash-<hash> in the working directory; replay it with
`.venv/bin/python fuzz/http_heads.py crash-<hash>`. tests/unit/http/test_fuzz_corpus.py
runs `check` over the seed corpus in the unit suite, so the target cannot rot.
"""

from __future__ import annotations

import contextlib
import sys

if __name__ == "__main__":
    import atheris  # only when fuzzing: the unit test imports `check` where atheris may be missing

    # Coverage feedback from the mesh's Python code; llhttp's C code is not instrumented.
    _instrumented = atheris.instrument_imports(include=["mesh"])
else:
    _instrumented = contextlib.nullcontext()

with _instrumented:
    from mesh.http.differential import compare_request, compare_response, split
    from mesh.http.limits import DEFAULT_LIMITS, Limits

SMALL = Limits(
    max_request_line=48,
    max_header_bytes=160,
    max_header_count=6,
    max_chunk_line=24,
    max_chunk_extensions=40,
    max_trailer_bytes=48,
)


def check(data: bytes) -> None:
    """Raise (Disagreement, or whatever escaped a parser) unless both parsers agree on `data`."""
    step = 1 + (data[0] % 16 if data else 0)
    chunkings = [[data], split(data, range(step, len(data), step))]
    for limits in (DEFAULT_LIMITS, SMALL):
        for chunks in chunkings:
            compare_request(chunks, limits)
            compare_response(chunks, limits)
        compare_request([data], limits, eof=False)
        compare_response([data], limits, b"HEAD")
        compare_response([data], limits, b"CONNECT")


def test_one_input(data: bytes) -> None:
    check(data)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
