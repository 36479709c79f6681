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
  routing             outbound.py     mesh.routing's plan, its header edits and rewrite
                                      (outbound only): the request as the target must see it.
  router              forwarding.py   endpoint order, pooled connections, what may be tried
                                      again: terminal, like Envoy's router.
  exchange            exchange.py     one request/response streamed both ways over one
                                      upstream connection; tunnel.py after a 101.
  telemetry           metrics.py      one record per request, reported once at the end:
                                      golden-signal metrics and the access log line.

Wiring: `InboundHttp.handle_connection` is InboundListener.http_handler; an
`HttpOutboundListener` replaces each OutboundListener and keeps the L4 path for tcp upstreams.
"""

from mesh.proxy.http.inbound import InboundHttp
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.outbound import HttpOutboundListener

__all__ = ["HttpMetrics", "HttpOutboundListener", "InboundHttp"]
