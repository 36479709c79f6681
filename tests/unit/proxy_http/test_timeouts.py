"""Which deadlines apply: service-defaults toward the local app, the route plan toward peers."""

from __future__ import annotations

from mesh.proxy.http.timeouts import LOCAL_APP_DEFAULTS, local_app_timeouts
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
