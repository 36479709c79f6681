"""Fault injection (Fault: delay, abort) as Envoy's HTTP fault filter, per route.

The outbound HTTP connection manager carries the fault filter with an empty configuration (it
injects nothing), and each route whose plan has a Fault overrides it (`typed_per_filter_config`):
the route's Fault, else the target service's service-defaults Fault, as `RoutePlan.fault` says.
A split route without a route Fault gives each split its own service's Fault (the weighted
cluster's override), since the builtin plane reads the Fault from the chosen split's plan.

Percentages are the builtin plane's (`mesh.resilience.faults`): two independent draws, a request
can be delayed then aborted, as Envoy's filter does. Envoy takes a fraction per million, which
carries the documents' hundredths of a percent exactly.
"""

from __future__ import annotations

from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.v3 import percent_pb2

from mesh.envoy.translate.protos import duration
from mesh.traffic.model import Fault

FAULT = "envoy.filters.http.fault"


def no_fault() -> fault_pb2.HTTPFault:
    """The listener-wide configuration: nothing injected unless a route says so."""
    return fault_pb2.HTTPFault()


def http_fault(fault: Fault) -> fault_pb2.HTTPFault:
    out = fault_pb2.HTTPFault()
    if fault.delay is not None:
        out.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=duration(fault.delay.duration), percentage=_per_million(fault.delay.percent)
            )
        )
    if fault.abort is not None:
        out.abort.CopyFrom(
            fault_pb2.FaultAbort(http_status=fault.abort.http_status, percentage=_per_million(fault.abort.percent))
        )
    return out


def _per_million(percent: float) -> percent_pb2.FractionalPercent:
    clamped = min(100.0, max(0.0, percent))
    return percent_pb2.FractionalPercent(
        numerator=round(clamped * 10_000), denominator=percent_pb2.FractionalPercent.MILLION
    )
