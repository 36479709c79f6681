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
from envoy.config.core.v3 import base_pb2, substitution_format_string_pb2
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


def access_logs(
    mode: str, direction: str, source: str, destination: str, *, grpc: bool = False
) -> list[accesslog_pb2.AccessLog]:
    """The access logs of one HTTP connection manager for the agent's `access_log` mode.

    `off` writes nothing and `errors` has Envoy write only what may be an error (a status of 400
    or more, no response, or any response flag): every line Envoy writes crosses the agent's event
    loop on its way to the log (mesh.envoy.log_lines), so lines the mode would drop are better not
    written at all. The agent then keeps exactly the builtin plane's `errors` lines (an app's own
    4xx is dropped there)."""
    if mode in ("off", False):
        return []
    log = access_log(direction, source, destination, grpc=grpc)
    if mode == "errors":
        log.filter.CopyFrom(_maybe_an_error())
    return [log]


def _maybe_an_error() -> accesslog_pb2.AccessLogFilter:
    def status(op: int, value: int) -> accesslog_pb2.AccessLogFilter:
        comparison = accesslog_pb2.ComparisonFilter(
            op=op, value=base_pb2.RuntimeUInt32(default_value=value, runtime_key="mesh.access_log.status")
        )
        return accesslog_pb2.AccessLogFilter(status_code_filter=accesslog_pb2.StatusCodeFilter(comparison=comparison))

    return accesslog_pb2.AccessLogFilter(
        or_filter=accesslog_pb2.OrFilter(
            filters=[
                status(accesslog_pb2.ComparisonFilter.GE, 400),
                status(accesslog_pb2.ComparisonFilter.EQ, 0),
                accesslog_pb2.AccessLogFilter(response_flag_filter=accesslog_pb2.ResponseFlagFilter()),
            ]
        )
    )
