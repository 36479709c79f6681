"""A route plan's edits: header modifiers in Envoy's order, prefix rewrite, response cookies."""

from __future__ import annotations

from mesh.http import Headers, RequestHead
from mesh.proxy.http.normalize import prepare_request
from mesh.proxy.http.route_edits import apply_header_modifiers, response_edits, rewritten_target
from mesh.routing import PrefixRewrite, SetCookie
from mesh.traffic.model import HeaderModifiers


def test_remove_then_add_then_set_within_a_modifier() -> None:
    headers = Headers([(b"x-a", b"1"), (b"x-gone", b"1")])
    modifier = HeaderModifiers(add=(("x-a", "2"), ("x-b", "1")), set=(("x-b", "set"),), remove=("x-gone", "x-a"))
    out = apply_header_modifiers(headers, [modifier])
    assert out.get_all(b"x-a") == [b"2"]
    assert out.get_all(b"x-b") == [b"set"]
    assert b"x-gone" not in out


def test_modifiers_apply_in_order_so_a_later_one_wins() -> None:
    first = HeaderModifiers(set=(("x-version", "split"),))
    second = HeaderModifiers(set=(("x-version", "route"),))
    assert apply_header_modifiers(Headers(), [first, second]).get(b"x-version") == b"route"


def test_fields_the_proxy_owns_are_never_edited() -> None:
    headers = Headers([(b"host", b"api"), (b"content-length", b"3")])
    modifier = HeaderModifiers(
        set=(("Host", "evil"), ("Content-Length", "0"), ("Transfer-Encoding", "chunked")), remove=("host",)
    )
    assert apply_header_modifiers(headers, [modifier]) == headers


def request(target: bytes) -> RequestHead:
    return RequestHead(b"GET", target, b"1.1", Headers([(b"Host", b"api")]))


def test_a_prefix_rewrite_keeps_the_rest_of_the_path_and_the_query() -> None:
    prepared = prepare_request(request(b"/legacy/items?page=2"))
    assert rewritten_target(prepared, PrefixRewrite("/legacy/", "/v2/")) == b"/v2/items?page=2"


def test_a_rewrite_to_nothing_still_leaves_a_path() -> None:
    prepared = prepare_request(request(b"/api"))
    assert rewritten_target(prepared, PrefixRewrite("/api", "")) == b"/"


def test_no_rewrite_leaves_the_target_as_normalized() -> None:
    prepared = prepare_request(request(b"/a/../b?x"))
    assert rewritten_target(prepared, None) == b"/b?x"
    assert rewritten_target(prepared, PrefixRewrite("/other", "/")) == b"/b?x"


def test_responses_get_the_plans_headers_then_the_hash_cookie() -> None:
    edit = response_edits([HeaderModifiers(set=(("x-served-by", "v2"),))], SetCookie("sticky", "abc", "/", 60))
    assert edit is not None
    out = edit(Headers([(b"content-type", b"text/plain")]))
    assert out.get(b"x-served-by") == b"v2"
    assert out.get(b"set-cookie") == b"sticky=abc; Path=/; Max-Age=60; HttpOnly"


def test_no_edits_means_no_per_response_work() -> None:
    assert response_edits((), None) is None
