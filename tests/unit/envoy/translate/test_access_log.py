"""Envoy's access log follows the agent's access_log mode at the source."""

from __future__ import annotations

from envoy.config.accesslog.v3.accesslog_pb2 import ComparisonFilter

from mesh.envoy.translate.access_log import access_logs


def test_off_writes_nothing_and_all_writes_every_request() -> None:
    assert access_logs("off", "inbound", "web", "api") == []
    (every,) = access_logs("all", "inbound", "web", "api")
    assert not every.HasField("filter")


def test_errors_has_envoy_write_only_what_may_be_an_error() -> None:
    (errors,) = access_logs("errors", "outbound", "web", "api")
    found = errors.filter.or_filter.filters
    comparisons = [f.status_code_filter.comparison for f in found if f.HasField("status_code_filter")]
    assert [(ComparisonFilter.Op.Name(c.op), c.value.default_value) for c in comparisons] == [("GE", 400), ("EQ", 0)]
    assert any(f.HasField("response_flag_filter") for f in found)  # any flag: resets, no healthy upstream, ...
