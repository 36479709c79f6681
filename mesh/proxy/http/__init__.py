"""The L7 (HTTP/1.1) data plane: the inbound listener's HTTP side and the outbound HTTP listeners.

The order of the layers, written once (each module says the rest):

  client connection   downstream.py   deadlines between and during heads (408 / silent idle
                                      close), codec refusals answered and the connection
                                      closed, keep-alive, draining: before anything looks at
                                      a request, it must be a request.
  normalization       normalize.py    origin-form, hop-by-hop removed, path normalized: so
                                      that authorization, routing and the app see one request.
  correlation         tracing.py      traceparent / x-request-id: first, so that even a
                                      refusal is logged with ids the caller can look up.
  authorization       inbound.py      intentions per request (inbound only): before anything
                                      is sent anywhere, re-read from the snapshot every time.
  identity            client_cert.py  XFCC replaced (inbound) or dropped (outbound): after
                                      authorization, on what is actually forwarded.
  rate limiting       inbound.py      RateLimits token buckets (inbound only, 429): after
                                      authorization, so refused callers spend no tokens.
  routing             outbound.py     mesh.routing's plan, its header edits and rewrite
                                      (outbound only): the request as the target must see it.
  fault injection     outbound.py     delay/abort by percentage (mesh.resilience.faults):
                                      before anything leaves the host, like Envoy's filter.
  circuit breaking    outbound.py     MaxConcurrentRequests, fail fast with 503: before the
                                      body is read, so a refused request costs nothing.
  body keeping        request_body.py a small body read whole when the request may be sent
                                      again: retries and mirroring need it; the request's
                                      deadline starts once it is whole.
  mirroring           mirroring.py    a copy on the side, never waited for: after the body
                                      is kept, before the primary's first attempt.
  retries             retrying.py     the route's retry policy, budget and backoff around
                                      attempts; outlier detection fed by their results; where
                                      each attempt goes (mesh.resilience.attempts).
  router              forwarding.py   endpoint order, pooled connections under MaxConnections
                                      (breaker.py), what is always safe to try again inside
                                      one attempt: terminal, like Envoy's router.
  exchange            exchange.py     one request/response streamed both ways over one
                                      upstream connection; tunnel.py after a 101. A response
                                      the retries will not relay is withheld here.
  telemetry           metrics.py      one record per request, reported once at the end:
                                      golden-signal metrics, the access log line, and the
                                      span when its trace is sampled (spans.py).

Wiring: `InboundHttp.handle_connection` is InboundListener.http_handler; an
`HttpOutboundListener` replaces each OutboundListener and keeps the L4 path for tcp upstreams.
"""

from mesh.proxy.http.inbound import InboundHttp
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.outbound import HttpOutboundListener

__all__ = ["HttpMetrics", "HttpOutboundListener", "InboundHttp"]
