"""Answers the proxy gives itself: well-formed, with the reason in a header, closing when asked."""

from __future__ import annotations

from mesh.http import parse_response_head
from mesh.proxy.http.local_replies import local_reply


def test_a_denial_says_why_in_x_mesh_denied_and_closes_when_asked() -> None:
    raw = local_reply(403, "intention web => api (L7) permission[0] deny", denied=True, close=True)
    got = parse_response_head(raw)
    assert got is not None
    head, body = got
    assert (head.status, head.reason) == (403, b"Forbidden")
    assert head.headers.get(b"x-mesh-denied") == b"intention web => api (L7) permission[0] deny"
    assert head.headers.get(b"connection") == b"close"
    assert head.headers.get(b"content-length") == b"%d" % len(body)
    assert body == b"403 Forbidden\n"


def test_other_answers_use_x_mesh_error_and_keep_the_connection_by_default() -> None:
    got = parse_response_head(local_reply(503, "no healthy endpoint", close=False))
    assert got is not None
    head, _ = got
    assert head.headers.get(b"x-mesh-error") == b"no healthy endpoint"
    assert b"connection" not in head.headers


def test_an_answer_to_head_has_no_body() -> None:
    got = parse_response_head(local_reply(403, "denied", denied=True, close=False, head_only=True))
    assert got is not None
    head, rest = got
    assert rest == b""
    assert head.headers.get(b"content-length") == b"14"


def test_a_reason_that_would_break_the_field_is_made_safe_and_short() -> None:
    got = parse_response_head(local_reply(400, "bad\r\nX-Injected: 1\x00" + "x" * 500, close=True))
    assert got is not None
    value = got[0].headers.get(b"x-mesh-error")
    assert value is not None
    assert b"\r" not in value
    assert b"\n" not in value
    assert len(value) <= 200
    assert b"x-injected" not in got[0].headers
