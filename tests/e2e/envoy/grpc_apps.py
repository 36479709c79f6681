"""gRPC test apps without generated code: grpc's generic handlers over raw bytes, each server
answering with the instance it is, so a test sees which instance served every RPC.

Methods of `pkg.Echo` (request and response are bytes):
- `Who`: the instance's name;
- `Secret`: the same, for a method an L7 intention denies;
- `Flaky`: UNAVAILABLE the first time any server of the group sees a request body, the instance's
  name after that, so a call succeeds only when the mesh retried it (on any instance).
The servers run on threads of the test process, bound on their host's loopback address.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures
from typing import Any

import grpc

SERVICE = "pkg.Echo"


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


class EchoGroup:
    """The servers of one test, sharing what `Flaky` has seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.flaky_seen: Counter[bytes] = Counter()
        self._servers: list[grpc.Server] = []

    def serve(self, host: str, instance: str) -> int:
        """A server for `instance` on `host`; returns its port."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers((self._handler(instance),))
        port = server.add_insecure_port(f"{host}:0")
        server.start()
        self._servers.append(server)
        return port

    def stop(self) -> None:
        for server in self._servers:
            server.stop(grace=None).wait(10)

    def _handler(self, instance: str) -> grpc.GenericRpcHandler[bytes, bytes]:
        answer = instance.encode()

        def who(_request: bytes, _context: grpc.ServicerContext) -> bytes:
            return answer

        def flaky(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.flaky_seen[request] += 1
                first = self.flaky_seen[request] == 1
            if first:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{instance}: first try")
            return answer

        handlers: dict[str, Any] = {
            "Who": grpc.unary_unary_rpc_method_handler(who),
            "Secret": grpc.unary_unary_rpc_method_handler(who),
            "Flaky": grpc.unary_unary_rpc_method_handler(flaky),
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)


def call(channel: grpc.Channel, name: str, body: bytes = b"", timeout: float = 10) -> bytes:
    """One unary RPC on `channel`; grpc.RpcError when it fails."""
    # No serializers: the body goes as it is, the answer comes back as bytes.
    response: bytes = channel.unary_unary(method(name), None, None)(body, timeout=timeout)
    return response


def code_of(channel: grpc.Channel, name: str, body: bytes = b"") -> grpc.StatusCode:
    try:
        call(channel, name, body)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK
