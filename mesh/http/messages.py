"""Message heads in the mesh's vocabulary: what the codec parses and what it serializes."""

from __future__ import annotations

from dataclasses import dataclass

from mesh.http.headers import Headers

HTTP_11 = b"1.1"
HTTP_10 = b"1.0"


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request line and its header section.

    `method` is case-sensitive and kept as sent; `target` is the raw request-target
    (origin-, absolute-, authority- or asterisk-form; see mesh.http.target);
    `version` is b"1.1" or b"1.0".
    """

    method: bytes
    target: bytes
    version: bytes
    headers: Headers


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A status line and its header section; `reason` may be empty (it carries no meaning)."""

    version: bytes
    status: int
    reason: bytes
    headers: Headers
