"""`access_log: errors` keeps the lines of refused and failed requests only; metrics still count
every request; the setting follows a SIGHUP.

web on host A calls api on host B; api's agent (where the L7 intention is enforced) is the one
whose access log is read.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.e2e.conftest import NO_DELETE_ADMIN, Mesh
from tests.support.processes import Agent, http_call, http_get, wait_until
from tests.support.scrape import sample

pytestmark = pytest.mark.e2e


def call(host: str, port: int, method: str, path: str) -> int:
    return http_call(host, port, method, path)[0]


def access_lines(agent: Agent) -> list[dict[str, Any]]:
    return [e for e in agent.process.log_events() if e.get("logger") == "mesh.access" and e.get("event") == "request"]


def paths_logged(agent: Agent, since: int) -> list[tuple[str, int, list[str] | None]]:
    """(path, status, flags) of the access lines after the first `since`, the warm-up's excluded."""
    lines = access_lines(agent)[since:]
    return [(e["path"], e["status"], e.get("flags")) for e in lines if e["path"] != "/admin"]


def reloaded(agent: Agent) -> list[dict[str, Any]]:
    return [e for e in agent.process.log_events() if e.get("event") == "configuration reloaded"]


def inbound_requests(agent: Agent, code: str) -> float:
    return sample(agent.metrics(), "mesh_requests_total", direction="inbound", destination="api", code=code)


def test_errors_mode_logs_the_denied_and_the_failed_request_but_counts_the_served_one_too(mesh: Mesh) -> None:
    a_host, b_host = mesh.host(), mesh.host()
    app = mesh.app("api", b_host)
    api_service = {"name": "api", "port": app, "address": b_host, "protocol": "http"}
    api = mesh.agent("host-b", b_host, [api_service], access_log="errors")
    _web, port = mesh.web_calling_api("host-a", a_host)
    consul = mesh.stack.consul()
    assert consul.config.set("service-defaults", "api", {"Protocol": "http"})
    assert consul.config.set(
        "service-intentions", "api", {"Sources": [{"Name": "web", "Permissions": NO_DELETE_ADMIN}]}
    )
    wait_until(lambda: call(a_host, port, "DELETE", "/admin") == 403, 10, what="the L7 intention in force")
    http_get(f"http://{b_host}:{app}/_control/health?status=fail")  # the app's /health answers 503
    logged_before = len(access_lines(api))

    assert call(a_host, port, "GET", "/ok") == 200
    assert call(a_host, port, "DELETE", "/admin/users") == 403
    assert call(a_host, port, "GET", "/health") == 503

    # A request is reported once its response is done, which may be just after the client has it.
    wait_until(lambda: len(paths_logged(api, logged_before)) >= 2, 5, what="the access log lines")
    assert paths_logged(api, logged_before) == [("/admin/users", 403, ["denied"]), ("/health", 503, None)]
    # Counted all the same: the served request, and every denial (the warm-up's too), each logged.
    wait_until(lambda: inbound_requests(api, "200") == 1, 5, what="the served request counted")
    assert inbound_requests(api, "503") == 1
    denials_logged = len([e for e in access_lines(api) if e["status"] == 403])
    assert inbound_requests(api, "403") == denials_logged >= 2

    # Live on SIGHUP: under `all` the served request has its line too.
    reloads = len(reloaded(api))
    api.rewrite(access_log="all")
    api.process.send(signal.SIGHUP)
    wait_until(lambda: len(reloaded(api)) > reloads, 15, what="the reload")
    logged_before = len(access_lines(api))
    assert call(a_host, port, "GET", "/after-reload") == 200
    wait_until(lambda: paths_logged(api, logged_before), 5, what="the served request's line")
    assert paths_logged(api, logged_before) == [("/after-reload", 200, None)]
