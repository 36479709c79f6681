"""The `x-mesh-reason` of the responses Envoy answers itself, as the builtin plane's local replies.

The builtin plane names why it answered in `x-mesh-reason` (mesh/proxy/http/local_replies.py, the
flag dashed) and says what happened in `x-mesh-error`. Envoy says it in its response flags; the
outbound connection manager's `local_reply_config` maps each flag to the builtin's reason and, where
they differ, its status, so a caller sees the same answer on both planes. Mappers are tried in
order and the first that matches applies: a fault abort first (it is also the request's only
answer), then the limits, the timeout, and the upstream failures.

Envoy reports both of its circuit breakers' refusals (requests, pending requests) as one flag (UO),
so the reason is decided from the caller's Limits: `max-pending-requests` when MaxConnections or
MaxPendingRequests is set without MaxConcurrentRequests, else `max-concurrent-requests`
(docs/data-planes.md, where the planes differ).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from mesh.envoy.translate.protos import uint32
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.local_replies import ERROR_HEADER, REASON_HEADER
from mesh.traffic.model import Limits


@dataclass(frozen=True, slots=True)
class Mapping:
    """Envoy's response flag -> the builtin's flag, the `x-mesh-error` text, and the status when
    the builtin answers another one than Envoy does (None: Envoy's status is the builtin's)."""

    envoy_flag: str
    flag: Flag
    error: str
    status: int | None = None


def mappings(limits: Limits | None) -> tuple[Mapping, ...]:
    overflow = (
        Flag.MAX_PENDING_REQUESTS
        if limits is not None
        and (limits.max_connections or limits.max_pending_requests)
        and not limits.max_concurrent_requests
        else Flag.MAX_CONCURRENT_REQUESTS
    )
    return (
        Mapping("FI", Flag.FAULT_ABORT, "fault injection: aborted"),
        Mapping("UO", overflow, "circuit breaking: the upstream's limit is reached"),
        Mapping("UT", Flag.REQUEST_TIMEOUT, "no response within the request timeout", 504),
        Mapping("SI", Flag.STREAM_IDLE_TIMEOUT, "the stream idle timeout passed"),
        Mapping("UH", Flag.NO_ENDPOINTS, "no healthy endpoint", 503),
        Mapping("UF", Flag.CONNECT_FAILURE, "no upstream connection could be opened", 503),
        Mapping("UPE", Flag.UPSTREAM_PROTOCOL_ERROR, "the upstream answered something unframeable", 502),
        Mapping("UR", Flag.UPSTREAM_RESET, "the upstream closed or broke the connection", 502),
        Mapping("UC", Flag.UPSTREAM_RESET, "the upstream closed the connection", 502),
    )


def local_reply_config(limits: Limits | None) -> hcm.LocalReplyConfig:
    return hcm.LocalReplyConfig(mappers=[_mapper(m) for m in mappings(limits)])


def _mapper(mapping: Mapping) -> hcm.ResponseMapper:
    mapper = hcm.ResponseMapper(
        filter=accesslog_pb2.AccessLogFilter(
            response_flag_filter=accesslog_pb2.ResponseFlagFilter(flags=[mapping.envoy_flag])
        ),
        headers_to_add=[
            _header(REASON_HEADER.decode(), mapping.flag.reason_token.decode()),
            _header(ERROR_HEADER.decode(), mapping.error),
        ],
    )
    if mapping.status is not None:
        mapper.status_code.CopyFrom(uint32(mapping.status))
    return mapper


def _header(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, value=value),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )
