"""Helpers for the Consul contract tests: unique names and a controllable HTTP check target."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses, since a container backend is shared by the session."""
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


class CheckTarget:
    """A loopback HTTP endpoint answering GET with the status code the test sets."""

    def __init__(self) -> None:
        self.status = 200
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"status {target.status}".encode()
                self.send_response(target.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/health"
        self._thread = threading.Thread(target=self._server.serve_forever, name="check-target", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def check_target() -> Iterator[CheckTarget]:
    target = CheckTarget()
    yield target
    target.close()
