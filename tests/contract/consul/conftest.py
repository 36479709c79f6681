"""Helpers for the Consul contract tests: unique names, a controllable HTTP check target, Consul with ACLs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ..conftest import CONSUL_IMAGE, MANAGEMENT_TOKEN, ConsulUnderTest, _docker_skip_reason, free_port


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


# -- Consul with ACLs on (default deny), on the stand-in and, where Docker runs, the real image ----------


def _acl_container_command(http: int, lan: int, wan: int, server: int) -> str:
    acl = f'acl {{ enabled = true default_policy = "deny" tokens {{ initial_management = "{MANAGEMENT_TOKEN}" }} }}'
    return (
        f"agent -dev -client 127.0.0.1 -bind 127.0.0.1 -http-port {http} -dns-port -1 -grpc-port -1 "
        f"-serf-lan-port {lan} -serf-wan-port {wan} -server-port {server} -hcl 'ports {{ grpc_tls = -1 }}' "
        f"-hcl '{acl}'"
    )


@pytest.fixture(scope="session")
def consul_acl_container() -> Iterator[ConsulUnderTest]:
    """The real image in -dev mode with ACLs on, default deny, and the known management token."""
    reason = _docker_skip_reason(CONSUL_IMAGE)
    if reason:
        pytest.skip(reason)
    from testcontainers.core.container import DockerContainer

    http, lan, wan, server = free_port(), free_port(), free_port(), free_port()
    container = (
        DockerContainer(CONSUL_IMAGE)
        .with_kwargs(network_mode="host")
        .with_command(_acl_container_command(http, lan, wan, server))
    )
    container.start()
    try:
        deadline = time.monotonic() + 30
        headers = {"X-Consul-Token": MANAGEMENT_TOKEN}
        while True:
            try:
                # Ready once the leader is elected and the ACL system answers for the management token.
                ok = requests.get(f"http://127.0.0.1:{http}/v1/acl/token/self", headers=headers, timeout=1).ok
                if ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Consul container with ACLs was not ready within 30s")
            time.sleep(0.2)
        yield ConsulUnderTest(backend="container", host="127.0.0.1", port=http, management_token=MANAGEMENT_TOKEN)
    finally:
        container.stop()


@pytest.fixture(params=["devstack", pytest.param("container", marks=pytest.mark.containers)])
def consul_acls(request: pytest.FixtureRequest, devstack_consul: Callable[..., ConsulUnderTest]) -> ConsulUnderTest:
    """ACLs on, default deny, `MANAGEMENT_TOKEN` the management token: both backends."""
    if request.param == "devstack":
        return devstack_consul(acl_management_token=MANAGEMENT_TOKEN)
    under_test: ConsulUnderTest = request.getfixturevalue("consul_acl_container")
    return under_test
