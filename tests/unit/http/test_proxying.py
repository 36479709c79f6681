"""What the proxy strips, keeps and decides when it forwards a message."""

from mesh.http import (
    Headers,
    RequestHead,
    ResponseHead,
    expects_continue,
    is_upgrade,
    keep_alive,
    strip_hop_by_hop,
    to_origin_form,
    upgrade_protocols,
)


def request(*fields: tuple[bytes, bytes], version: bytes = b"1.1", target: bytes = b"/") -> RequestHead:
    return RequestHead(b"GET", target, version, Headers([(b"Host", b"app"), *fields]))


def test_hop_by_hop_fields_and_those_connection_names_are_removed() -> None:
    headers = Headers(
        [
            (b"Host", b"app"),
            (b"Connection", b"keep-alive, X-Secret"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"TE", b"trailers"),
            (b"Trailer", b"Checksum"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Upgrade", b"websocket"),
            (b"X-Secret", b"hop-only"),
            (b"Accept", b"*/*"),
        ]
    )
    assert list(strip_hop_by_hop(headers)) == [(b"Host", b"app"), (b"Accept", b"*/*")]


def test_connection_cannot_nominate_host_for_removal() -> None:
    headers = Headers([(b"Host", b"app"), (b"Connection", b"Host")])
    assert list(strip_hop_by_hop(headers)) == [(b"Host", b"app")]


def test_an_upgrade_pass_through_keeps_upgrade_and_a_bare_connection_upgrade() -> None:
    headers = Headers(
        [
            (b"Host", b"app"),
            (b"Connection", b"keep-alive, Upgrade"),
            (b"Upgrade", b"websocket"),
            (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    )
    assert list(strip_hop_by_hop(headers, keep_upgrade=True)) == [
        (b"Host", b"app"),
        (b"Upgrade", b"websocket"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Connection", b"upgrade"),
    ]


def test_http_11_is_persistent_unless_connection_close() -> None:
    assert keep_alive(request())
    assert not keep_alive(request((b"Connection", b"Keep-Alive, Close")))
    assert not keep_alive(ResponseHead(b"1.1", 200, b"OK", Headers([(b"Connection", b"close")])))


def test_http_10_is_never_persistent_even_with_keep_alive() -> None:
    assert not keep_alive(request((b"Connection", b"keep-alive"), version=b"1.0"))


def test_an_upgrade_needs_both_connection_upgrade_and_an_upgrade_field_in_http_11() -> None:
    asked = ((b"Connection", b"Upgrade"), (b"Upgrade", b"WebSocket"))
    assert is_upgrade(request(*asked))
    assert upgrade_protocols(request(*asked)) == [b"websocket"]
    assert not is_upgrade(request((b"Upgrade", b"websocket")))
    assert not is_upgrade(request((b"Connection", b"upgrade")))
    assert not is_upgrade(request(*asked, version=b"1.0"))


def test_expect_100_continue_counts_only_in_http_11() -> None:
    assert expects_continue(request((b"Expect", b"100-Continue")))
    assert not expects_continue(request((b"Expect", b"100-continue"), version=b"1.0"))
    assert not expects_continue(request())


def test_an_absolute_form_request_becomes_origin_form_with_the_targets_host() -> None:
    head = request((b"X", b"1"), target=b"http://api.internal:8080/v1?q=1")
    rewritten = to_origin_form(head)
    assert rewritten.target == b"/v1?q=1"
    assert list(rewritten.headers) == [(b"Host", b"api.internal:8080"), (b"X", b"1")]


def test_an_absolute_form_target_without_a_path_becomes_slash() -> None:
    assert to_origin_form(request(target=b"http://api?x")).target == b"/?x"


def test_an_origin_form_request_is_left_alone() -> None:
    head = request(target=b"/p")
    assert to_origin_form(head) is head
