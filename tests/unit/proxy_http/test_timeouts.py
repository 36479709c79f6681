"""Which deadlines apply: service-defaults toward the local app, the route plan toward peers."""

from __future__ import annotations

from mesh.proxy.http.timeouts import (
    LOCAL_APP_DEFAULTS,
    UpstreamTimeouts,
    local_app_timeouts,
    request_body_allowance,
    request_body_due,
)
from mesh.traffic.model import ServiceDefaults


def test_the_local_app_gets_consuls_defaults_without_a_document() -> None:
    assert local_app_timeouts(None) == LOCAL_APP_DEFAULTS
    assert (LOCAL_APP_DEFAULTS.connect, LOCAL_APP_DEFAULTS.request) == (5.0, 15.0)


def test_service_defaults_set_the_local_connect_and_request_timeouts() -> None:
    timeouts = local_app_timeouts(ServiceDefaults("api", local_connect_timeout_ms=250, local_request_timeout_ms=60_000))
    assert (timeouts.connect, timeouts.request) == (0.25, 60.0)


def test_zero_in_service_defaults_means_the_default() -> None:
    timeouts = local_app_timeouts(ServiceDefaults("api", local_connect_timeout_ms=0, local_request_timeout_ms=2000))
    assert (timeouts.connect, timeouts.request) == (5.0, 2.0)


def test_a_request_body_deadline_grows_with_the_bytes_received_not_with_time() -> None:
    assert request_body_due(100.0, 15.0, 0) == 115.0
    # A drip of a byte every 5 s gains 5 ms per byte: it is cut soon after the allowance.
    assert request_body_due(100.0, 15.0, 10) < 115.1
    # A 100 MB upload at 10 MB/s (10 s) is far within its deadline.
    assert request_body_due(100.0, 15.0, 100 * 1024 * 1024) > 100.0 + 10.0


def test_a_request_body_without_a_request_timeout_gets_the_stream_idle_timeout() -> None:
    assert request_body_allowance(UpstreamTimeouts(request=None, stream_idle=300.0)) == 300.0
    assert request_body_allowance(UpstreamTimeouts(request=2.0)) == 2.0
