"""`meshctl intention check`: the agents' decision, evaluated by the agents' own code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh.cli.errors import Refused
from mesh.cli.intention_check import evaluate, intention_table
from tests.unit.cli.conftest import ConsulStandIn

L7_SOURCES: list[dict[str, Any]] = [
    {
        "Name": "web",
        "Permissions": [
            {"Action": "allow", "HTTP": {"PathPrefix": "/v1/", "Methods": ["GET"]}},
            {"Action": "deny", "HTTP": {"PathPrefix": "/"}},
        ],
    }
]


def l7_intentions(consul: ConsulStandIn) -> None:
    assert consul.client.config.set("service-defaults", "api", {"Protocol": "http"})
    assert consul.client.config.set("service-intentions", "api", {"Sources": L7_SOURCES})


def register_instance(consul: ConsulStandIn, protocol: str) -> None:
    consul.client.agent.service.register(
        "api-sidecar-proxy",
        service_id="api-1-sidecar-proxy",
        address="10.0.0.2",
        port=20000,
        kind="connect-proxy",
        proxy={"DestinationServiceName": "api", "DestinationServiceID": "api-1", "Config": {"protocol": protocol}},
    )


def test_an_allow_intention_allows_and_is_named(consul_standin: ConsulStandIn) -> None:
    consul_standin.client.connect.intentions.upsert("web", "api", action="allow", description="web calls api")
    run = consul_standin.meshctl("intention", "check", "web", "api")
    assert run.code == 0
    assert run.out.startswith("ALLOW\n  web => api (tcp), a connection\n  reason: intention web => api (allow)\n")
    assert "description: web calls api" in run.out


def test_with_no_intention_the_default_decides(consul_standin: ConsulStandIn) -> None:
    denied = consul_standin.meshctl("intention", "check", "web", "api")
    assert denied.code == 1
    assert "reason: no intention matches web => api; default deny" in denied.out
    assert consul_standin.meshctl("intention", "check", "web", "api", "--default", "allow").code == 0


def test_exact_deny_beats_wildcard_allow_and_both_are_listed_in_order(consul_standin: ConsulStandIn) -> None:
    consul_standin.client.connect.intentions.upsert("*", "api", action="allow")
    consul_standin.client.connect.intentions.upsert("web", "api", action="deny")
    run = consul_standin.meshctl("intention", "check", "web", "api", "-o", "json")
    verdict = json.loads(run.out)
    assert run.code == 1
    assert verdict["intention"]["source"] == "web"
    assert [(m["source"], m["action"], m["precedence"]) for m in verdict["matching"]] == [
        ("web", "deny", 9),
        ("*", "allow", 8),
    ]


def test_a_request_is_decided_by_the_first_matching_permission(consul_standin: ConsulStandIn) -> None:
    l7_intentions(consul_standin)
    register_instance(consul_standin, "http")
    allowed = consul_standin.meshctl("intention", "check", "web", "api", "--path", "/v1/users", "-o", "json")
    assert allowed.code == 0
    verdict = json.loads(allowed.out)
    assert (verdict["level"], verdict["permission"]["index"]) == ("request", 0)
    denied = consul_standin.meshctl("intention", "check", "web", "api", "--path", "/v1/users", "--method", "POST")
    assert denied.code == 1
    assert "permission[1]: deny PathPrefix=/" in denied.out


def test_without_a_request_an_l7_intention_admits_the_connection_for_per_request_checks(
    consul_standin: ConsulStandIn,
) -> None:
    l7_intentions(consul_standin)
    register_instance(consul_standin, "http")
    run = consul_standin.meshctl("intention", "check", "web", "api")
    assert run.code == 0
    assert run.out.startswith("ALLOW to connect; each request is then checked against the permissions below\n")
    assert "permission[0]: allow PathPrefix=/v1/, Methods=['GET']" in run.out


def test_an_l7_intention_denies_a_destination_registered_as_tcp(consul_standin: ConsulStandIn) -> None:
    l7_intentions(consul_standin)
    register_instance(consul_standin, "tcp")
    run = consul_standin.meshctl("intention", "check", "web", "api", "--path", "/v1/users")
    assert run.code == 1
    assert "has L7 permissions but api is not http" in run.out
    assert "note: api is tcp: the request was ignored" in run.out


def test_the_protocol_can_be_given_when_no_instance_is_registered(consul_standin: ConsulStandIn) -> None:
    l7_intentions(consul_standin)
    run = consul_standin.meshctl("intention", "check", "web", "api", "--protocol", "http", "--path", "/admin")
    assert run.code == 1
    assert "permission[1] deny" in run.out


def test_an_intention_the_agents_cannot_read_denies_what_it_governs_as_they_do() -> None:
    bad = {
        "SourceName": "web",
        "DestinationName": "api",
        "Permissions": [{"Action": "allow", "HTTP": {"PathRegex": "("}}],
    }
    table_ = intention_table([bad, {"SourceName": "web", "DestinationName": "db", "Action": "allow"}])
    verdict = evaluate(table_, "web", "api", http=True, request=None, default_allow=True)
    assert not verdict["allowed"]
    assert "web => api (unreadable) cannot be read" in verdict["reason"]
    assert verdict["intention"]["error"]
    assert evaluate(table_, "web", "db", http=False, request=None, default_allow=False)["allowed"]


def test_an_answer_the_agents_would_refuse_is_reported_not_evaluated() -> None:
    with pytest.raises(Refused, match="the agents refuse Consul's current intentions"):
        intention_table({"SourceName": "web"})  # type: ignore[arg-type]
