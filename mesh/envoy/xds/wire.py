"""DiscoveryResponse bytes built by concatenation (pure).

A response to an Envoy with thousands of clusters repeats resources that did not change since
they were published. Building a `DiscoveryResponse` message copies every packed resource into
it and then serializes it all again, on the event loop, for every stream and every push. Here
each resource is encoded once, at publish, as the bytes of one `resources` entry (a packed
`Any`); a response is then the join of those entries and four short fields, which is the same
bytes protobuf would write (the tests compare with protobuf's own serializer).

Field numbers, from envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto:
DiscoveryResponse{version_info = 1; resources = 2 (repeated Any); type_url = 4; nonce = 5;
control_plane = 6}, ControlPlane{identifier = 1}, Any{type_url = 1; value = 2}.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final

_LENGTH_DELIMITED: Final = 2
# Publish encodes every resource: the common short lengths are looked up, not computed.
_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    # proto3 leaves an empty string out.
    return _field(number, text.encode()) if text else b""


@functools.cache
def _any_head(type_url: str) -> bytes:
    """An Any's type_url field and the tag of its value field, the same for every resource of a type."""
    return _string(1, type_url) + _varint(2 << 3 | _LENGTH_DELIMITED)


def resource_entry(type_url: str, value: bytes) -> bytes:
    """One `resources` entry of a DiscoveryResponse: an `Any` of `type_url` holding `value`."""
    if not value:
        return _field(2, _string(1, type_url))
    inner = b"".join((_any_head(type_url), _varint(len(value)), value))
    return b"".join((b"\x12", _varint(len(inner)), inner))  # field 2, length-delimited


def discovery_response(version: str, entries: Iterable[bytes], type_url: str, nonce: str, control_plane: str) -> bytes:
    """A serialized DiscoveryResponse whose resources are `entries` (from `resource_entry`)."""
    return b"".join(
        (
            _string(1, version),
            *entries,
            _string(4, type_url),
            _string(5, nonce),
            _field(6, _string(1, control_plane)) if control_plane else b"",
        )
    )
