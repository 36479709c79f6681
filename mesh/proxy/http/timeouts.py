"""The L7 data plane's deadlines, in one place so operators and tests can reason about them.

Downstream (a client connection to one of our listeners):
- HEADER_TIMEOUT, counted from the first byte of a request head: a head still incomplete
  then is answered 408 and the connection closed. The mesh's clients are local apps and
  peer agents that write a head in one go; a head that trickles in for seconds is a
  stalled or hostile peer (slowloris), and each one holds a task and a buffer.
- KEEPALIVE_IDLE_TIMEOUT: a connection with no request started for this long is closed
  silently (RFC 9112 9.3: either side may close an idle persistent connection; clients
  retry an idempotent request that meets such a close).

Upstream (our connection to the local app, or to a peer agent):
- the connect timeout: service-defaults `LocalConnectTimeoutMs` (inbound) or the
  resolver's `ConnectTimeout` (outbound); Consul's default otherwise.
- the request timeout: service-defaults `LocalRequestTimeoutMs` (inbound) or the route's
  `RequestTimeout`, else the resolver's (outbound). Like Envoy's route timeout it is one
  deadline for the whole request, however many attempts it takes: it starts once the proxy
  holds the whole request (at once for a request without a body, or with one kept whole
  for retries: mesh.proxy.http.request_body) and covers waiting for a connection slot,
  connecting, every attempt and every backoff between them. A body streamed to the upstream
  instead (too big to keep, or nothing would resend it) starts the clock once it has been
  sent, and such a request has a single attempt. Unlike Envoy, the deadline ends at the
  response head rather than the end of the response body, so a long download or an event
  stream is not cut mid-body. Expiry is answered 504 with `x-mesh-reason: request-timeout`.
  A body that stalls (either direction) is cut by STREAM_IDLE_TIMEOUT (Envoy's default), or
  the route's `IdleTimeout`.
- the request body's pace: an idle timer resets with every byte, so a body sent a byte at a
  time would hold a client connection and an upstream connection forever. A request body
  must therefore also arrive within the request timeout (STREAM_IDLE_TIMEOUT when there is
  none) of its start, plus one second per REQUEST_BODY_MIN_RATE bytes received: a drip is cut
  (408, `x-mesh-reason: request-body-timeout`), an upload at any real rate never is (like
  Apache's mod_reqtimeout `MinRate`).
- pooled idle connections: evicted after POOL_IDLE_LOCAL (toward the app: shorter than the
  5 s keep-alive of Node.js and uvicorn, so the app rarely closes one we are about to
  reuse; reconnecting on loopback costs little) or POOL_IDLE_REMOTE (toward peer agents:
  shorter than their KEEPALIVE_IDLE_TIMEOUT, so they never close one first; an mTLS
  handshake is worth keeping).

Resolution: these deadlines are floats enforced by one timer sweep per event loop
(mesh.proxy.http.deadlines), not a timer each. A deadline never fires early, and at most
deadlines.RESOLUTION (50 ms) late, plus however late the event loop runs: a head due at 5 s
is answered 408 between 5 and 5.05 s. Draining is the exception that fires at once: an idle
keep-alive connection is closed as soon as its listener starts draining. EARLY_RESPONSE_GRACE
is a wait of its own (asyncio.wait), as precise as the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh.traffic.model.defaults import (
    DEFAULT_LOCAL_CONNECT_TIMEOUT,
    DEFAULT_LOCAL_REQUEST_TIMEOUT,
    ServiceDefaults,
)

HEADER_TIMEOUT = 5.0
KEEPALIVE_IDLE_TIMEOUT = 60.0
STREAM_IDLE_TIMEOUT = 300.0
POOL_IDLE_LOCAL = 4.0
POOL_IDLE_REMOTE = 30.0
# Idle connections kept per upstream (app or endpoint); more are closed when released.
POOL_MAX_IDLE = 64
# Bytes per second of a request body that extend its deadline by a second (see the module docstring).
REQUEST_BODY_MIN_RATE = 1024.0
# After a response completes while the request body is still being sent (the app answered
# early), how long the body may take to finish before both connections are given up.
EARLY_RESPONSE_GRACE = 0.25


@dataclass(frozen=True, slots=True)
class DownstreamTimeouts:
    header: float = HEADER_TIMEOUT
    keepalive_idle: float = KEEPALIVE_IDLE_TIMEOUT


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    connect: float = DEFAULT_LOCAL_CONNECT_TIMEOUT
    # None: no deadline on the response head (Consul's 0 for a route's RequestTimeout).
    request: float | None = DEFAULT_LOCAL_REQUEST_TIMEOUT
    stream_idle: float = STREAM_IDLE_TIMEOUT


def request_body_due(started: float, allowance: float, received: int) -> float:
    """When a request body started at `started` must be complete, as far as `received` bytes go."""
    return started + allowance + received / REQUEST_BODY_MIN_RATE


def request_body_allowance(timeouts: UpstreamTimeouts) -> float:
    """How long a request body may take before the bytes it brought extend it."""
    return timeouts.request or timeouts.stream_idle


def local_app_timeouts(defaults: ServiceDefaults | None) -> UpstreamTimeouts:
    """Toward a local app: its service-defaults LocalConnectTimeoutMs/LocalRequestTimeoutMs, else Consul's defaults."""
    if defaults is None:
        return LOCAL_APP_DEFAULTS
    return UpstreamTimeouts(
        connect=defaults.local_connect_timeout or DEFAULT_LOCAL_CONNECT_TIMEOUT,
        request=defaults.local_request_timeout or DEFAULT_LOCAL_REQUEST_TIMEOUT,
    )


LOCAL_APP_DEFAULTS = UpstreamTimeouts()
DOWNSTREAM_DEFAULTS = DownstreamTimeouts()
