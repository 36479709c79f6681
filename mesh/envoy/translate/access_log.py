"""Envoy's access log in the builtin plane's field names (mesh/proxy/http/access_log.py), one JSON
object per line on Envoy's stdout, which the supervisor forwards into the agent's log stream.

The fields an operator's queries use have the same names and meaning on both planes: direction,
source, destination, method, path, status, duration_ms, bytes_in, bytes_out, request_id,
traceparent, upstream, flags. `grpc_status` (Envoy plane only, on the lines of a grpc
listener: the builtin plane relays gRPC as TCP) is a gRPC response's status as its number (`7`
for PERMISSION_DENIED), from the `grpc-status` trailer or header; it is left out elsewhere, as
Envoy would infer a gRPC code from any HTTP status. `flags` carries Envoy's
response flags (its own short codes, e.g. `UF` for an upstream connect failure, `RL` rate
limited): the vocabulary differs from the builtin plane's `Flag` names (docs/envoy.md lists the
correspondence).
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import substitution_format_string_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from google.protobuf import struct_pb2

from mesh.envoy.translate.protos import pack

STDOUT_LOGGER = "envoy.access_loggers.stdout"


def access_log(direction: str, source: str, destination: str, *, grpc: bool = False) -> accesslog_pb2.AccessLog:
    """`source` and `destination` are fixed per listener (outbound: the local service and its
    upstream) or an Envoy command (`%DOWNSTREAM_PEER_URI_SAN%` for an inbound caller); `grpc`
    adds `grpc_status`."""
    fields = struct_pb2.Struct()
    fields.update(
        {
            "event": "request",
            "logger": "mesh.envoy.access",
            "direction": direction,
            "source": source,
            "destination": destination,
            "method": "%REQ(:METHOD)%",
            "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
            "status": "%RESPONSE_CODE%",
            "duration_ms": "%DURATION%",
            "bytes_in": "%BYTES_RECEIVED%",
            "bytes_out": "%BYTES_SENT%",
            "request_id": "%REQ(X-REQUEST-ID)%",
            "traceparent": "%REQ(TRACEPARENT)%",
            "upstream": "%UPSTREAM_HOST%",
            "flags": "%RESPONSE_FLAGS%",
            # Why Envoy answered itself (rbac_access_denied_..., no_healthy_upstream, ...); the
            # agent drops "via_upstream", an answer of the app's (mesh.envoy.log_lines).
            "reason": "%RESPONSE_CODE_DETAILS%",
        }
    )
    if grpc:
        fields.update({"grpc_status": "%GRPC_STATUS(NUMBER)%"})
    log_format = substitution_format_string_pb2.SubstitutionFormatString(json_format=fields)
    return accesslog_pb2.AccessLog(
        name=STDOUT_LOGGER, typed_config=pack(stream_pb2.StdoutAccessLog(log_format=log_format))
    )
