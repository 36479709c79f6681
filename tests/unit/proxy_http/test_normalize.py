"""What authorization and routing see is what the app gets: normalized once, before both."""

from __future__ import annotations

import pytest

from mesh.http import Headers, Limits, ProtocolError, RequestHead
from mesh.proxy.http.normalize import (
    HeaderView,
    next_hop_refusal,
    normalize_path,
    prepare_request,
    request_facts,
    with_default_host,
)


def request(method: bytes, target: bytes, *fields: tuple[bytes, bytes], version: bytes = b"1.1") -> RequestHead:
    return RequestHead(method, target, version, Headers([(b"Host", b"api"), *fields]))


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (b"/admin", b"/admin"),
        (b"/%61dmin", b"/admin"),
        (b"/%7euser", b"/~user"),
        (b"/a/./b", b"/a/b"),
        (b"/a/../admin", b"/admin"),
        (b"/../../admin", b"/admin"),
        (b"/%2e%2e/admin", b"/admin"),
        (b"/a/b/..", b"/a/"),
        (b"/a/.", b"/a/"),
        (b"/a%2fb", b"/a%2Fb"),  # an escaped slash stays escaped (Consul's default)
        (b"/a%2Fb/..", b"/"),
        (b"//admin", b"//admin"),  # repeated slashes are kept (Consul's default)
        (b"/a%20b", b"/a%20b"),
        (b"/", b"/"),
    ],
)
def test_paths_are_normalized_as_rfc_3986_says(raw: bytes, normalized: bytes) -> None:
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize("raw", [b"/%zz", b"/%2", b"/a%"])
def test_an_invalid_escape_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        normalize_path(raw)
    assert caught.value.status_hint == 400


def test_the_forwarded_target_carries_the_normalized_path_and_the_query_untouched() -> None:
    prepared = prepare_request(request(b"GET", b"/x/../%61dmin?q=%2e%2e&r"))
    assert prepared.head.target == b"/admin?q=%2e%2e&r"
    assert prepared.path == b"/admin"
    assert prepared.query == b"q=%2e%2e&r"


def test_an_absolute_form_request_becomes_origin_form_with_its_authority_as_host() -> None:
    prepared = prepare_request(request(b"GET", b"http://admin.internal/a"))
    assert prepared.head.target == b"/a"
    assert prepared.head.headers.get(b"host") == b"admin.internal"


def test_hop_by_hop_fields_and_those_connection_names_are_removed() -> None:
    prepared = prepare_request(
        request(b"GET", b"/", (b"Connection", b"keep-alive, X-Internal"), (b"X-Internal", b"1"), (b"TE", b"trailers"))
    )
    assert [name for name, _ in prepared.head.headers] == [b"Host"]
    assert prepared.keep_alive


def test_connection_close_and_http_1_0_end_the_connection_after_the_response() -> None:
    assert not prepare_request(request(b"GET", b"/", (b"Connection", b"close"))).keep_alive
    assert not prepare_request(request(b"GET", b"/", version=b"1.0")).keep_alive


def test_expect_continue_is_answered_by_the_proxy_so_it_is_not_forwarded() -> None:
    prepared = prepare_request(request(b"POST", b"/", (b"Expect", b"100-continue"), (b"Content-Length", b"3")))
    assert prepared.expect_continue
    assert b"expect" not in prepared.head.headers


def test_a_websocket_upgrade_is_kept() -> None:
    prepared = prepare_request(
        request(b"GET", b"/ws", (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Key", b"k"))
    )
    assert prepared.websocket
    assert prepared.head.headers.get(b"upgrade") == b"websocket"
    assert prepared.head.headers.get(b"connection") == b"upgrade"
    assert prepared.head.headers.get(b"sec-websocket-key") == b"k"


def test_an_h2c_upgrade_is_dropped_and_the_request_served_as_http_1_1() -> None:
    prepared = prepare_request(
        request(
            b"GET", b"/", (b"Connection", b"Upgrade, HTTP2-Settings"), (b"Upgrade", b"h2c"), (b"HTTP2-Settings", b"x")
        )
    )
    assert not prepared.websocket
    assert [name for name, _ in prepared.head.headers] == [b"Host"]


def test_connect_is_not_proxied() -> None:
    with pytest.raises(ProtocolError) as caught:
        prepare_request(request(b"CONNECT", b"db:5432"))
    assert caught.value.status_hint == 501


def test_options_asterisk_is_forwarded_as_is() -> None:
    prepared = prepare_request(request(b"OPTIONS", b"*"))
    assert prepared.head.target == b"*"


def test_permissions_match_on_method_normalized_path_and_joined_header_values() -> None:
    prepared = prepare_request(request(b"DELETE", b"/%61dmin/x?y=1", (b"X-Role", b"a"), (b"x-role", b"b")))
    facts = request_facts(prepared)
    assert (facts.method, facts.path) == ("DELETE", "/admin/x")
    assert facts.headers.get("x-role") == "a,b"
    assert facts.headers.get("x-absent") is None
    assert "host" in facts.headers


def test_the_header_view_lists_each_name_once_in_lower_case() -> None:
    view = HeaderView(Headers([(b"A", b"1"), (b"a", b"2"), (b"B", b"3")]))
    assert list(view) == ["a", "b"]
    assert len(view) == 2
    assert view.get("é") is None


def test_an_http_1_0_request_without_host_is_forwarded_with_the_destinations_name() -> None:
    assert with_default_host(Headers(), "api").get(b"host") == b"api"
    assert with_default_host(Headers([(b"Host", b"x:1")]), "api").get(b"host") == b"x:1"


# -- what the next hop accepts --------------------------------------------------------------------


def fields(n: int, value: bytes = b"v") -> Headers:
    return Headers([(b"X-%d" % i, value) for i in range(n)])


def test_a_head_within_the_limits_fits_the_next_hop() -> None:
    assert next_hop_refusal(fields(100)) is None


def test_more_fields_than_the_next_hop_takes_are_refused_before_sending() -> None:
    reason = next_hop_refusal(fields(101))
    assert reason is not None
    assert "101 header fields" in reason


def test_a_header_section_larger_than_the_next_hop_takes_is_refused_before_sending() -> None:
    limits = Limits(max_header_bytes=100)
    # Each line is `X-0: <value>\r\n`; with the final empty line the section must stay within 100.
    assert next_hop_refusal(Headers([(b"X-0", b"a" * 91)]), limits) is None
    assert next_hop_refusal(Headers([(b"X-0", b"a" * 92)]), limits) is not None
