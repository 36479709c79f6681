"""Micro-benchmark of the codec's hot paths. Not collected by pytest (no test_ prefix).

Run: .venv/bin/python -m tests.unit.http.bench_codec
Prints rates only; the suite never asserts on timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mesh.http import (
    ChunkedReader,
    encode_request_head,
    framing_for_request,
    parse_request_head,
    parse_response_head,
    strip_hop_by_hop,
)

SMALL_REQUEST = (
    b"GET /api/v1/items?limit=10 HTTP/1.1\r\nHost: api.service.consul\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
)
BROWSER_REQUEST = (
    b"GET /static/app.js?v=1234567 HTTP/1.1\r\n"
    b"Host: web.example.internal:8080\r\n"
    b"Connection: keep-alive\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; tracking=no\r\n"
    b"Referer: https://web.example.internal/\r\n"
    b"X-Request-Id: 7d3f1c2a-4b5e-4f6a-9c8d-0e1f2a3b4c5d\r\n"
    b"Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 2\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"Server: app\r\n"
    b"\r\n{}"
)


def rate(label: str, fn: Callable[[], object], seconds: float = 1.0) -> None:
    n = 0
    batch = 1000
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        n += batch
    print(f"{label:<48} {n / elapsed:>12,.0f} /s  ({elapsed / n * 1e6:.2f} us each)")


def main() -> None:
    small = parse_request_head(SMALL_REQUEST)
    assert small is not None
    browser = parse_request_head(BROWSER_REQUEST)
    assert browser is not None
    chunked_body = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in [b"x" * 100] * 10) + b"0\r\n\r\n"

    rate("parse request head, 3 fields", lambda: parse_request_head(SMALL_REQUEST))
    rate("parse request head, 11 fields (browser)", lambda: parse_request_head(BROWSER_REQUEST))
    rate("parse response head, 4 fields", lambda: parse_response_head(RESPONSE))
    rate("parse + framing + strip hop-by-hop + encode (3)", lambda: _proxy_path(SMALL_REQUEST))
    rate("parse + framing + strip hop-by-hop + encode (11)", lambda: _proxy_path(BROWSER_REQUEST))
    rate("encode request head (11 fields)", lambda: encode_request_head(browser[0]))
    rate("decode chunked body, 10 x 100 B chunks", lambda: ChunkedReader().feed(chunked_body))


def _proxy_path(data: bytes) -> bytes:
    got = parse_request_head(data)
    assert got is not None
    head = got[0]
    framing_for_request(head)
    head = type(head)(head.method, head.target, head.version, strip_hop_by_hop(head.headers))
    return encode_request_head(head)


if __name__ == "__main__":
    main()
