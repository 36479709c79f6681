"""Request-target forms taken apart for routing and L7 permission matching."""

import pytest

from mesh.http import TargetForm, is_valid_authority, parse_target


def test_origin_form_splits_path_and_query() -> None:
    target = parse_target(b"GET", b"/a/b?x=1&y")
    assert (target.form, target.path, target.query, target.authority) == (TargetForm.ORIGIN, b"/a/b", b"x=1&y", b"")


def test_an_empty_query_is_kept_distinct_from_no_query() -> None:
    assert parse_target(b"GET", b"/a?").query == b""
    assert parse_target(b"GET", b"/a").query is None
    assert parse_target(b"GET", b"/a?").origin_form == b"/a?"


def test_absolute_form_lowercases_the_scheme_and_keeps_the_authority() -> None:
    target = parse_target(b"GET", b"HTTP://Api:80/p?q")
    assert (target.form, target.scheme, target.authority, target.path, target.query) == (
        TargetForm.ABSOLUTE,
        b"http",
        b"Api:80",
        b"/p",
        b"q",
    )


def test_authority_and_asterisk_forms() -> None:
    assert parse_target(b"CONNECT", b"db:5432").authority == b"db:5432"
    assert parse_target(b"OPTIONS", b"*").origin_form == b"*"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (b"app", True),
        (b"app.service.consul:8080", True),
        (b"10.0.0.5:20000", True),
        (b"[2001:db8::1]:443", True),
        (b"[::1]", True),
        (b"", False),
        (b":80", False),
        (b"app:", False),
        (b"app:123456", False),
        (b"user@app", False),
        (b"[::1", False),
        (b"[::1]x", False),
        (b"app/path", False),
    ],
)
def test_authority_validation(value: bytes, valid: bool) -> None:
    assert is_valid_authority(value) is valid
