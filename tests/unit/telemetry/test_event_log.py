"""The access log's direct lines: what structlog's chain would write, secrets redacted the same way.

Each case logs the same fields both ways onto one stream and compares the parsed lines: the
same keys in the same order with the same values; the timestamps differ only by the clock.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from mesh.proxy.http.access_log import RequestRecord, logged_path
from mesh.telemetry.lines import BUFFERED
from mesh.telemetry.logs import REDACTED, EventLog
from tests.unit.telemetry.capture import logging_to

VAULT_TOKEN = "hvs.CAESIJ0s9ZxJ1fake-token_value0123456789"
PRIVATE_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeKeyMaterial\n-----END EC PRIVATE KEY-----"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    with logging_to(stream, "info"):
        yield stream


def both_ways(out: io.StringIO, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(structlog's line, the direct line) for `fields` logged as the access log's `request`."""
    structlog.get_logger("mesh.access").info("request", **fields)
    EventLog("mesh.access").info("request", dict(fields))
    BUFFERED.flush()
    text = out.getvalue()
    assert text.isascii()
    chain, direct = (json.loads(line) for line in text.splitlines())
    return chain, direct


def without_ts(line: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, value) for key, value in line.items() if key != "ts"]


def full_record() -> RequestRecord:
    record = RequestRecord("outbound", "web", "api", started=0.0, method="POST", path="/orders?id=7", subset="v2")
    record.status, record.bytes_in, record.bytes_out = 503, 12, 0
    record.request_id = "6f1c2a9e-3b4d-4c5e-8f60-718293a4b5c6"
    record.traceparent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    record.parent_span, record.upstream = "3" * 16, "10.0.0.2:20000"
    record.flags, record.reason = ["connect_failure", "connect_retried"], "10.0.0.2:20000: refused"
    return record


@pytest.mark.parametrize(
    "record",
    [full_record(), RequestRecord("inbound", "web", "api", started=0.0, method="GET", path="/", status=200)],
    ids=["every field", "the fewest"],
)
def test_a_line_has_the_keys_order_and_values_of_structlogs(out: io.StringIO, record: RequestRecord) -> None:
    chain, direct = both_ways(out, record.fields(0.0123456))
    assert without_ts(direct) == without_ts(chain)
    assert list(direct)[-4:] == ["event", "level", "logger", "ts"]
    assert (direct["event"], direct["level"], direct["logger"]) == ("request", "info", "mesh.access")
    assert ISO_UTC.fullmatch(direct["ts"])
    assert ISO_UTC.fullmatch(chain["ts"])


def test_a_path_that_is_not_ascii_stays_an_ascii_line_with_the_same_value(out: io.StringIO) -> None:
    record = RequestRecord("inbound", "web", "api", started=0.0, path=logged_path(b"/caf\xc3\xa9"))
    chain, direct = both_ways(out, record.fields(0.0))
    assert "\ufffd" in direct["path"]
    assert without_ts(direct) == without_ts(chain)


def test_a_secret_in_a_path_a_request_id_or_a_reason_is_redacted(out: io.StringIO) -> None:
    record = RequestRecord("inbound", "web", "api", started=0.0, method="GET", path=f"/login?t={VAULT_TOKEN}")
    record.request_id, record.reason = VAULT_TOKEN, f"refused: {PRIVATE_KEY}"
    chain, direct = both_ways(out, record.fields(0.0))
    assert direct["path"] == f"/login?t={REDACTED}"
    assert direct["request_id"] == REDACTED
    assert direct["reason"] == f"refused: {REDACTED}"
    assert without_ts(direct) == without_ts(chain)
    assert VAULT_TOKEN not in out.getvalue()
    assert "FakeKeyMaterial" not in out.getvalue()


def test_a_value_under_a_secret_key_is_redacted(out: io.StringIO) -> None:
    chain, direct = both_ways(out, {"path": "/", "authorization": "Bearer abc"})
    assert direct["authorization"] == REDACTED
    assert without_ts(direct) == without_ts(chain)


def test_below_info_there_is_no_line_either_way() -> None:
    stream = io.StringIO()
    with logging_to(stream, "warning"):
        structlog.get_logger("mesh.access").info("request", path="/")
        EventLog("mesh.access").info("request", {"path": "/"})
        BUFFERED.flush()
    assert stream.getvalue() == ""
