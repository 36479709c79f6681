"""From the codec's RequestHead to what routing reads, decoded once."""

from mesh.http import Headers, RequestHead
from mesh.routing import RequestInfo, request_info


def head(target: bytes, *fields: tuple[bytes, bytes], method: bytes = b"GET") -> RequestHead:
    return RequestHead(method, target, b"1.1", Headers(fields))


def test_path_query_and_headers_are_taken_apart() -> None:
    info = request_info(head(b"/a/b?x=1&y=&z&x=2", (b"Host", b"api"), (b"X-Canary", b"1")), "10.0.0.9")
    assert info == RequestInfo(
        method="GET",
        path="/a/b",
        query=(("x", "1"), ("y", ""), ("z", ""), ("x", "2")),
        headers={"host": "api", "x-canary": "1"},
        source_ip="10.0.0.9",
    )
    assert info.query_value("x") == "1"


def test_repeated_headers_are_joined_with_commas() -> None:
    info = request_info(head(b"/", (b"Accept", b"a"), (b"accept", b"b")), "")
    assert info.headers["accept"] == "a,b"


def test_absolute_form_targets_route_by_their_path() -> None:
    info = request_info(head(b"http://api.internal/v1/x?q=1"), "")
    assert (info.path, info.query) == ("/v1/x", (("q", "1"),))


def test_non_ascii_header_bytes_survive() -> None:
    info = request_info(head(b"/", (b"X-Name", "caf\u00e9".encode("latin-1"))), "")
    assert info.headers["x-name"] == "caf\u00e9"
