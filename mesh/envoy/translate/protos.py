"""Small constructors shared by the translation modules: Any packing, durations, addresses, SDS."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2
from google.protobuf.message import Message


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def uint32(value: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=value)


def socket_address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address=host, port_value=port))


def ads_source() -> config_source_pb2.ConfigSource:
    """Resources that come over the same ADS stream as the rest."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def sds_secret(name: str, source: config_source_pb2.ConfigSource | None) -> secret_pb2.SdsSecretConfig:
    """A reference to SDS secret `name`: over ADS in the agent (`source`), or a static secret of the
    bootstrap when `source` is None (how tests load a translation into a static Envoy)."""
    if source is None:
        return secret_pb2.SdsSecretConfig(name=name)
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)
