"""Size limits that bound how much a peer can make us buffer before we refuse it."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-message bounds, enforced as bytes arrive (a slow or endless head is cut at the limit).

    Defaults follow Envoy where it has one (60 KiB of headers, 100 header fields) and
    common servers otherwise (nginx and Apache refuse request lines past 8 KiB; we allow
    16 KiB because API query strings run long).
    """

    # Request line (or a response's status line), without its CRLF; empty lines ignored
    # before a request line count against it too. Exceeded -> 414 (502 for a response).
    max_request_line: int = 16 * 1024
    # The header section after the start line: every field line with its CRLF plus the
    # final empty line. Exceeded -> 431 (502 for a response).
    max_header_bytes: int = 60 * 1024
    # Field lines in the header section (and, separately, in a trailer section) -> 431.
    max_header_count: int = 100
    # One chunk-size line (size, extensions, CRLF) in a chunked body -> 400.
    max_chunk_line: int = 4 * 1024
    # Chunk-extension bytes over a whole body: extensions are discarded, so a peer that
    # sends many makes us burn CPU for nothing (hyper added the same bound).
    max_chunk_extensions: int = 16 * 1024
    # The trailer section of a chunked body, counted like the header section -> 400.
    max_trailer_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"Limits.{f.name} must be positive")


DEFAULT_LIMITS = Limits()
