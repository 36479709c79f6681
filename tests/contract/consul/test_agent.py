"""Agent registrations and the checks the agent runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from consul import Check
from consul.exceptions import BadRequest, ConsulException

from ..conftest import ConsulUnderTest
from .conftest import CheckTarget
from .polling import eventually


def _status(consul: ConsulUnderTest, check_id: str) -> str:
    checks: dict[str, Any] = consul.client().agent.checks()
    return str(checks[check_id]["Status"]) if check_id in checks else "absent"


def test_py_consul_lowercase_registration_is_understood(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    sid = unique("web")
    c.agent.service.register(
        "web", service_id=sid, address="127.0.0.1", port=8080, tags=["v2"], meta={"version": "v2"},
        weights={"passing": 10, "warning": 1},
    )  # fmt: skip
    svc = c.agent.services()[sid]
    assert (svc["Service"], svc["Address"], svc["Port"]) == ("web", "127.0.0.1", 8080)
    assert svc["Tags"] == ["v2"]
    assert svc["Meta"] == {"version": "v2"}
    assert svc["Weights"] == {"Passing": 10, "Warning": 1}
    c.agent.service.deregister(sid)
    assert sid not in c.agent.services()


def test_agent_services_honour_a_filter(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    v1, v2 = unique("api-v1"), unique("api-v2")
    c.agent.service.register("api", service_id=v1, port=1, meta={"version": "v1"})
    c.agent.service.register("api", service_id=v2, port=2, meta={"version": "v2"}, tags=["canary"])
    found = c.agent.services(filter_expr=f'Meta.version == v2 and ID == "{v2}"')
    assert list(found) == [v2]
    assert v2 in c.agent.services(filter_expr='"canary" in Tags')


def test_a_registration_without_a_name_is_refused(consul: ConsulUnderTest) -> None:
    resp = requests.put(f"{consul.url}/v1/agent/service/register", json={"Port": 80}, timeout=5)
    assert resp.status_code == 400
    assert resp.text == "Missing service name"


def test_a_connect_proxy_needs_its_destination(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    with pytest.raises(BadRequest, match=r"Proxy\.DestinationServiceName must be non-empty"):
        consul.client().agent.service.register(unique("proxy"), port=21000, kind="connect-proxy", proxy={})


def test_deregistering_an_unknown_service_is_404(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    resp = requests.put(f"{consul.url}/v1/agent/service/deregister/{unique('nobody')}", timeout=5)
    assert resp.status_code == 404
    assert "Unknown service ID" in resp.text


def test_a_check_for_an_unknown_service_is_404(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    ghost = unique("ghost")
    body = {"Name": "c", "TTL": "10s", "ServiceID": ghost}
    resp = requests.put(f"{consul.url}/v1/agent/check/register", json=body, timeout=5)
    assert resp.status_code == 404
    assert ghost in resp.text


def test_an_http_check_follows_its_target(
    consul: ConsulUnderTest, unique: Callable[[str], str], check_target: CheckTarget
) -> None:
    c = consul.client()
    sid = unique("web")
    c.agent.service.register("web", service_id=sid, port=check_target.port, check=Check.http(check_target.url, "1s"))
    check_id = f"service:{sid}"
    eventually(lambda: _status(consul, check_id), lambda s: s == "passing")
    check_target.status = 503
    eventually(lambda: _status(consul, check_id), lambda s: s == "critical")
    output = c.agent.checks()[check_id]["Output"]
    assert "503" in output
    check_target.status = 429
    eventually(lambda: _status(consul, check_id), lambda s: s == "warning")


def test_a_tcp_check_passes_while_something_listens(
    consul: ConsulUnderTest, unique: Callable[[str], str], check_target: CheckTarget
) -> None:
    c = consul.client()
    sid = unique("db")
    c.agent.service.register("db", service_id=sid, check=Check.tcp("127.0.0.1", check_target.port, "1s"))
    eventually(lambda: _status(consul, f"service:{sid}"), lambda s: s == "passing")


def test_a_ttl_check_starts_critical_passes_when_told_and_expires(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    sid = unique("worker")
    c.agent.service.register("worker", service_id=sid, check=Check.ttl("1s"))
    check_id = f"service:{sid}"
    assert _status(consul, check_id) == "critical"
    c.agent.check.ttl_pass(check_id, "alive")
    check = c.agent.checks()[check_id]
    assert (check["Status"], check["Output"]) == ("passing", "alive")
    eventually(lambda: _status(consul, check_id), lambda s: s == "critical", timeout=4)
    assert c.agent.checks()[check_id]["Output"].startswith("TTL expired")


def test_check_update_sets_status_and_output(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    check_id = unique("node-ttl")
    c.agent.check.register(check_id, Check.ttl("30s"))
    resp = requests.put(
        f"{consul.url}/v1/agent/check/update/{check_id}", json={"Status": "warning", "Output": "disk 91%"}, timeout=5
    )
    assert resp.status_code == 200
    check = c.agent.checks()[check_id]
    assert (check["Status"], check["Output"]) == ("warning", "disk 91%")
    bad = requests.put(f"{consul.url}/v1/agent/check/update/{check_id}", json={"Status": "fine"}, timeout=5)
    assert bad.status_code == 400


def test_passing_a_check_that_is_not_a_ttl_check_fails(
    consul: ConsulUnderTest, unique: Callable[[str], str], check_target: CheckTarget
) -> None:
    c = consul.client()
    check_id = unique("http-check")
    c.agent.check.register(check_id, Check.http(check_target.url, "10s"))
    with pytest.raises(ConsulException, match="does not have associated TTL"):
        c.agent.check.ttl_pass(check_id)


def test_an_alias_check_follows_the_service_it_aliases(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    app, proxy = unique("web"), unique("web-sidecar-proxy")
    c.agent.service.register("web", service_id=app, port=8080, check=Check.ttl("30s"))
    c.agent.service.register(
        "web-sidecar-proxy",
        service_id=proxy,
        port=21000,
        kind="connect-proxy",
        proxy={"DestinationServiceName": "web", "DestinationServiceID": app, "LocalServicePort": 8080},
        check={"Name": "Connect Sidecar Aliasing web", "AliasService": app},
    )
    alias = f"service:{proxy}"
    eventually(lambda: _status(consul, alias), lambda s: s == "critical")
    c.agent.check.ttl_pass(f"service:{app}")
    eventually(lambda: _status(consul, alias), lambda s: s == "passing")
    c.agent.check.ttl_warn(f"service:{app}")
    eventually(lambda: _status(consul, alias), lambda s: s == "warning")
    c.agent.service.deregister(app)
    eventually(lambda: _status(consul, alias), lambda s: s == "critical")


def test_a_re_registration_keeps_the_check_status(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    sid = unique("stable")
    c.agent.service.register("stable", service_id=sid, check=Check.ttl("30s"))
    c.agent.check.ttl_pass(f"service:{sid}")
    c.agent.service.register("stable", service_id=sid, check=Check.ttl("30s"), tags=["again"])
    assert _status(consul, f"service:{sid}") == "passing"


def test_replace_existing_checks_drops_checks_not_resent(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    sid = unique("svc")
    first = {"CheckID": f"{sid}-a", "TTL": "30s"}
    second = {"CheckID": f"{sid}-b", "TTL": "30s"}
    c.agent.service.register("svc", service_id=sid, check=first, extra_checks=[second])
    assert {f"{sid}-a", f"{sid}-b"} <= set(c.agent.checks())
    c.agent.service.register("svc", service_id=sid, check=second, replace_existing_checks=True)
    checks = c.agent.checks()
    assert f"{sid}-b" in checks
    assert f"{sid}-a" not in checks
