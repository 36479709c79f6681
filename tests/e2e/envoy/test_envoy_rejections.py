"""A configuration the host's Envoy rejects is reported and changes nothing that was serving.

An upstream listener whose port another process holds cannot be bound: Envoy rejects the listener
update (a NACK with its reason), keeps what it accepted before, and the agent shows the rejection
in /v1/status and counts it, while the other upstream keeps serving.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from tests.e2e.conftest import Mesh
from tests.e2e.envoy.conftest import ENVOY_ONLY
from tests.support.ports import free_port
from tests.support.processes import http_get, wait_until

pytestmark = ENVOY_ONLY


def test_a_listener_envoy_cannot_bind_is_reported_and_the_rest_keeps_serving(mesh: Mesh, tmp_path: Path) -> None:
    b_host, a_host = mesh.host(), mesh.host()
    app = mesh.app("api", b_host)
    mesh.agent("host-b", b_host, [{"name": "api", "port": app, "address": b_host, "protocol": "http"}])
    good = free_port(a_host)
    web = {
        "name": "web",
        "port": free_port(a_host),
        "address": a_host,
        "upstreams": [{"destination_name": "api", "local_bind_port": good, "local_bind_address": a_host}],
    }
    a = mesh.agent("host-a", a_host, [web])
    mesh.stack.allow("web", "api")
    url = f"http://{a_host}:{good}/"
    wait_until(lambda: http_get(url)[0] == 200, 15, what="the first upstream serving")

    with socket.socket() as squatter:
        squatter.bind((a_host, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        web["upstreams"] = [
            *web["upstreams"],  # type: ignore[list-item]
            {"destination_name": "api", "local_bind_port": taken, "local_bind_address": a_host},
        ]
        a.rewrite(services=[web])
        a.process.send(signal.SIGHUP)

        def rejection() -> dict[str, object] | None:
            (node,) = a.status()["envoy"]["xds"]["nodes"].values()
            found: dict[str, object] | None = node["types"]["lds"]["last_rejection"]
            return found

        rejected = wait_until(rejection, 20, what="Envoy's rejection of the listener reported")
        assert "Address already in use" in str(rejected["error"]) or "cannot bind" in str(rejected["error"])
        assert a.status()["envoy"]["xds"]["rejected"] >= 1
        assert 'mesh_envoy_xds_rejected_total{type="lds"}' in a.metrics()
        for _ in range(20):
            assert http_get(url)[0] == 200  # what was serving keeps serving
