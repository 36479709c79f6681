"""The response flags: what happened to a request, in the mesh's fixed vocabulary.

Like Envoy's response flags, each names one thing the proxy did or met, and the set is closed:
the access log's `flags`, the `x-mesh-reason` of a response the mesh answers itself (the flag,
dashed), the failures the exchange raises and the retry router's decisions all use these
members, so a misspelt flag is a type error rather than a record nobody matches. Members are
strings (StrEnum): logs and headers carry their values, and comparing with a string works.
"""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    DENIED = "denied"  # refused by an intention (403)
    BAD_REQUEST = "bad_request"  # the client's request could not be framed or parsed
    HEADER_TIMEOUT = "header_timeout"  # the client did not finish its head in time (408)
    HEADER_OVERFLOW = "header_overflow"  # with the mesh's own fields the head would exceed the next hop's limits (431)
    NO_ENDPOINTS = "no_endpoints"  # no healthy endpoint for the target (503)
    CONNECT_FAILURE = "connect_failure"  # no upstream connection could be opened (503)
    UPSTREAM_RESET = "upstream_reset"  # the upstream closed or broke the connection mid-exchange
    UPSTREAM_PROTOCOL_ERROR = "upstream_protocol_error"  # the upstream answered something unframeable (502)
    REQUEST_TIMEOUT = "request_timeout"  # no response head within the request timeout, retries included (504)
    STREAM_IDLE_TIMEOUT = "stream_idle_timeout"  # a body stalled past the stream idle timeout
    REQUEST_BODY_TIMEOUT = "request_body_timeout"  # the request body arrived slower than its pace allows (408)
    DOWNSTREAM_RESET = "downstream_reset"  # the client went away before the response was done
    RETRIED_STALE = "retried_stale"  # a reused connection was found closed; retried on a fresh one
    CONNECT_RETRIED = "connect_retried"  # a connect failure was retried on another endpoint
    RETRIED = "retried"  # the route's retry policy sent the request again (once per retry)
    MAX_CONCURRENT_REQUESTS = "max_concurrent_requests"  # circuit breaking: MaxConcurrentRequests (503)
    MAX_PENDING_REQUESTS = "max_pending_requests"  # circuit breaking: MaxConnections and MaxPendingRequests (503)
    RATE_LIMITED = "rate_limited"  # refused by the service's RateLimits (429)
    FAULT_DELAY = "fault_delay"  # held by fault injection before being forwarded
    FAULT_ABORT = "fault_abort"  # answered by fault injection instead of being forwarded
    UPGRADED = "upgraded"  # a WebSocket upgrade became a tunnel
    NO_CERTIFICATE = "no_certificate"  # the outbound side has no leaf certificate yet (503)
    LOCAL_ERROR = "local_error"  # the agent itself failed while handling the request (500)

    @property
    def reason_token(self) -> bytes:
        """The `x-mesh-reason` value: `request_timeout` -> `request-timeout`."""
        return self.value.replace("_", "-").encode("ascii")


# Flags that say how a request went without saying it failed: a retry that then succeeded,
# a delay injected on purpose, an upgrade. Every other flag names a refusal or a failure, so a
# flag added later is logged under `errors` unless it is put here deliberately.
INFORMATIONAL_FLAGS = frozenset(
    {Flag.RETRIED, Flag.RETRIED_STALE, Flag.CONNECT_RETRIED, Flag.FAULT_DELAY, Flag.UPGRADED}
)
