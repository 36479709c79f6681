"""Envoy's NACK text is kept for operators, but never what may be key material in it."""

from __future__ import annotations

import pytest

from mesh.envoy.xds.status import DETAIL_LIMIT, redact_detail


def test_plain_errors_are_kept_whole() -> None:
    text = "Error adding/updating listener(s) l1: error adding listener '127.0.0.1:1': multiple filter chains"
    assert redact_detail(text) == text


@pytest.mark.parametrize(
    "quoted",
    [
        'private_key { inline_string: "-----BEGIN PRIVATE KEY-----\\nMIIE..." }',
        'inline_bytes: "\\001\\002"',
        "-----BEGIN EC PRIVATE KEY-----\nMHcC",
        'secret { name: "x" }',
    ],
)
def test_text_that_may_quote_a_key_is_cut_before_it(quoted: str) -> None:
    redacted = redact_detail(f"Proto constraint validation failed: {quoted}")
    assert redacted.startswith("Proto constraint validation failed:")
    assert "MII" not in redacted
    assert "MHc" not in redacted
    assert "\\001" not in redacted
    assert redacted.endswith("[rest redacted: it may quote key material]")


def test_long_errors_are_bounded() -> None:
    redacted = redact_detail("x" * (DETAIL_LIMIT * 3))
    assert len(redacted) < DETAIL_LIMIT + 20
