import pytest

from mesh.http import Headers, ProtocolError, is_field_value

H = Headers([(b"Host", b"a"), (b"X-Tag", b"one"), (b"Accept", b"*/*"), (b"x-tag", b"two")])


def test_lookup_is_case_insensitive_and_get_returns_the_first_value() -> None:
    assert H.get(b"X-TAG") == b"one"
    assert H.get(b"missing") is None
    assert b"ACCEPT" in H
    assert H.count(b"x-tag") == 2


def test_get_all_returns_every_line_in_order() -> None:
    assert H.get_all(b"x-tag") == [b"one", b"two"]
    assert H.get_all(b"missing") == []


def test_iteration_keeps_order_and_original_case() -> None:
    assert list(H) == [(b"Host", b"a"), (b"X-Tag", b"one"), (b"Accept", b"*/*"), (b"x-tag", b"two")]
    assert len(H) == 4


def test_tokens_split_comma_lists_across_lines_and_drop_empty_members() -> None:
    h = Headers([(b"Connection", b"Keep-Alive , ,X-Foo"), (b"connection", b"Upgrade")])
    assert h.tokens(b"connection") == [b"keep-alive", b"x-foo", b"upgrade"]
    assert h.contains_token(b"Connection", b"UPGRADE")
    assert not h.contains_token(b"connection", b"close")


def test_with_set_replaces_every_line_at_the_first_ones_place() -> None:
    h = H.with_set(b"X-Tag", b"only")
    assert list(h) == [(b"Host", b"a"), (b"X-Tag", b"only"), (b"Accept", b"*/*")]
    assert list(H)[1] == (b"X-Tag", b"one"), "the original is unchanged"


def test_with_set_appends_an_absent_field_and_with_added_always_appends() -> None:
    assert list(H.with_set(b"New", b"1"))[-1] == (b"New", b"1")
    assert H.with_added(b"Host", b"b").get_all(b"host") == [b"a", b"b"]


def test_without_drops_every_named_line_case_insensitively() -> None:
    assert list(H.without(b"X-TAG", b"accept")) == [(b"Host", b"a")]
    assert H.without(b"absent") is H


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X-Inject", b"a\r\nSet-Cookie: evil"),
        (b"X-Inject", b"a\nb"),
        (b"X-Nul", b"a\x00b"),
        (b"X-Edge", b" padded"),
        (b"Bad Name", b"v"),
        (b"Bad:Name", b"v"),
        (b"", b"v"),
    ],
)
def test_building_fields_refuses_injection_as_a_local_error(name: bytes, value: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        Headers([(name, value)])
    assert (caught.value.remote, caught.value.status_hint) == (False, 500)
    with pytest.raises(ProtocolError):
        H.with_set(name, value)


def test_values_may_hold_obs_text_and_inner_whitespace() -> None:
    assert is_field_value(b"caf\xc3\xa9 au\tlait")
    assert Headers([(b"X", b"")]).get(b"x") == b""


def test_equality_is_by_fields_in_order() -> None:
    assert Headers([(b"a", b"1"), (b"b", b"2")]) == Headers([(b"a", b"1"), (b"b", b"2")])
    assert Headers([(b"a", b"1"), (b"b", b"2")]) != Headers([(b"b", b"2"), (b"a", b"1")])
    assert Headers([(b"A", b"1")]) != Headers([(b"a", b"1")]), "original case is part of the value"
