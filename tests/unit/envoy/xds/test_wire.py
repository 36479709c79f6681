"""Responses built by concatenation are the bytes protobuf itself writes, and parse back."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf.any_pb2 import Any as AnyMessage

from mesh.envoy.xds import CLUSTER, LISTENER
from mesh.envoy.xds.wire import discovery_response, resource_entry
from tests.unit.envoy.xds.support import cluster, listener


def official(version: str, packed: list[AnyMessage], type_url: str, nonce: str, control_plane: str) -> bytes:
    response = discovery_pb2.DiscoveryResponse(version_info=version, resources=packed, type_url=type_url, nonce=nonce)
    if control_plane:
        response.control_plane.CopyFrom(base_pb2.ControlPlane(identifier=control_plane))
    return response.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    ("type_url", "values"),
    [
        (CLUSTER, [cluster("c1").SerializeToString(), cluster("ünïcode-ñame").SerializeToString()]),
        (LISTENER, []),
        (CLUSTER, [b""]),  # a resource with every field at its default
        (CLUSTER, [cluster("x" * 70_000).SerializeToString()]),  # lengths of three varint bytes
        (LISTENER, [listener(f"l{i}", 15000 + i).SerializeToString() for i in range(300)]),
    ],
)
@pytest.mark.parametrize(
    ("version", "nonce", "control_plane"), [("1", "7", "mesh-agent"), ("", "", ""), ("v" * 200, "n", "")]
)
def test_the_same_bytes_as_protobufs_serializer(
    type_url: str, values: list[bytes], version: str, nonce: str, control_plane: str
) -> None:
    entries = [resource_entry(type_url, v) for v in values]
    built = discovery_response(version, entries, type_url, nonce, control_plane)
    packed = [AnyMessage(type_url=type_url, value=v) for v in values]
    assert built == official(version, packed, type_url, nonce, control_plane)
    parsed = discovery_pb2.DiscoveryResponse.FromString(built)
    assert [r.value for r in parsed.resources] == values
    assert (parsed.version_info, parsed.nonce, parsed.control_plane.identifier) == (version, nonce, control_plane)


@pytest.mark.parametrize("size", [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
def test_lengths_at_every_varint_boundary(size: int) -> None:
    value = bytes(size)  # an Any's value is opaque bytes
    built = discovery_response("1", [resource_entry(CLUSTER, value)], CLUSTER, "1", "")
    assert built == official("1", [AnyMessage(type_url=CLUSTER, value=value)], CLUSTER, "1", "")
