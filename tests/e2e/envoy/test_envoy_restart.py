"""Killing a host's Envoy under load: the agent restarts it, /ready reflects it, traffic resumes.

web (host A) calls api on host B; both agents on the Envoy plane. B's Envoy is killed with SIGKILL
while requests flow. The agent's supervisor restarts it (backoff from 0.5 s), serves it its
configuration over ADS again, and B's /ready is 503 until Envoy is live and configured again.
Requests routed to B meanwhile fail (a host with one instance has nowhere else to go); the test
prints how long traffic was interrupted and how many requests failed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.e2e.conftest import Mesh
from tests.e2e.envoy.conftest import ENVOY_ONLY
from tests.support.load import Load
from tests.support.processes import http_get, wait_until

pytestmark = ENVOY_ONLY


def test_a_killed_envoy_is_restarted_and_traffic_resumes(mesh: Mesh, tmp_path: Path) -> None:
    b_host = mesh.host()
    app = mesh.app("api", b_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": app, "address": b_host, "protocol": "http"}])
    a, port = mesh.web_calling_api("host-a", mesh.host())
    mesh.stack.allow("web", "api")
    url = f"http://{a.host}:{port}/work"
    wait_until(lambda: http_get(url)[0] == 200, 15, what="traffic through both Envoys")
    first = b.status()["envoy"]["process"]
    ready_seen: list[tuple[float, int]] = []

    with Load(interval=0.01) as load:
        for n in range(2):
            load.http(f"client-{n}", url)
        load.wait_for_traffic(at_least=20)
        killed = time.monotonic()
        os.kill(first["pid"], signal.SIGKILL)

        def restarted() -> bool:
            ready_seen.append((time.monotonic() - killed, http_get(f"{b.admin}/ready")[0]))
            process = b.status()["envoy"]["process"]
            return bool(process["restarts"] >= 1 and process["state"] == "live" and process["pid"] != first["pid"])

        wait_until(restarted, 30, interval=0.05, what="B's Envoy restarted and live")
        wait_until(b.ready, 30, what="B ready again")
        ok_before = sum(load.ok(f"client-{n}") for n in range(2))
        wait_until(lambda: sum(load.ok(f"client-{n}") for n in range(2)) > ok_before + 20, 30, what="traffic resumed")
        failures = load.failures()

    assert 503 in {code for _, code in ready_seen}, ready_seen  # /ready said so while Envoy was down
    stamps = sorted(failures)
    down = next((t for t, code in ready_seen if code == 503), None)
    back = next((t for t, code in ready_seen if code == 200 and down is not None and t > down), None)
    print(
        f"\nEnvoy killed under load: {len(failures)} failed requests; /ready 503 from {down:.2f}s to "
        f"{back if back is None else round(back, 2)}s after the kill; restarts "
        f"{b.status()['envoy']['process']['restarts']}; first failures: {stamps[:3]}"
    )
    assert b.status()["envoy"]["xds"]["rejected"] == 0
