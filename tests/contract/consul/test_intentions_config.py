"""Intentions (exact/match/check API and service-intentions entries) and config entries."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from consul.exceptions import ConsulException

from ..conftest import ConsulUnderTest


def test_an_intention_reads_back_through_match_by_precedence(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    web, api = unique("web"), unique("api")
    assert c.connect.intentions.upsert(web, api, action="allow") is True
    assert c.connect.intentions.upsert("*", api, action="deny") is True
    found = c.connect.intentions.match("destination", api)[api]
    assert [(i["SourceName"], i["Action"], i["Precedence"]) for i in found] == [(web, "allow", 9), ("*", "deny", 8)]
    assert all(i["DestinationName"] == api for i in found)
    by_source = c.connect.intentions.match("source", web)[web]
    assert (by_source[0]["SourceName"], by_source[0]["DestinationName"]) == (web, api)


def test_an_exact_intention_has_the_legacy_shape(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    web, api = unique("web"), unique("api")
    c.connect.intentions.upsert(web, api, action="deny", description="no thanks")
    ixn = c.connect.intentions.read(web, api)
    assert ixn["SourceName"] == web
    assert ixn["DestinationName"] == api
    assert ixn["SourceNS"] == ixn["DestinationNS"] == "default"
    assert (ixn["Action"], ixn["SourceType"], ixn["Precedence"]) == ("deny", "consul", 9)
    assert ixn["Description"] == "no thanks"
    assert ixn["CreateIndex"] <= ixn["ModifyIndex"]


def test_a_missing_exact_intention_is_404(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    resp = requests.get(
        f"{consul.url}/v1/connect/intentions/exact",
        params={"source": unique("a"), "destination": unique("b")},
        timeout=5,
    )
    assert resp.status_code == 404
    assert "Intention not found" in resp.text


def test_check_follows_the_most_precise_intention(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    web, api, other = unique("web"), unique("api"), unique("other")
    c.connect.intentions.upsert("*", api, action="deny")
    c.connect.intentions.upsert(web, api, action="allow")
    assert c.connect.intentions.check(web, api) is True
    assert c.connect.intentions.check(other, api) is False
    assert c.connect.intentions.check(other, unique("unguarded")) is True, "no intention: ACLs off default-allow"
    assert c.connect.intentions.delete(web, api) is True
    assert c.connect.intentions.check(web, api) is False


def test_intentions_are_service_intentions_config_entries(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    api, web = unique("api"), unique("web")
    entry = {"Sources": [{"Name": "*", "Action": "deny"}, {"Name": web, "Action": "allow"}]}
    assert c.config.set("service-intentions", api, entry) is True
    stored = c.config.get("service-intentions", api)
    assert stored["Kind"] == "service-intentions"
    assert [(s["Name"], s["Precedence"], s["Type"]) for s in stored["Sources"]] == [
        (web, 9, "consul"),
        ("*", 8, "consul"),
    ]
    listed = c.connect.intentions.list(filter_expr=f'DestinationName == "{api}"')
    assert {i["SourceName"] for i in listed} == {web, "*"}


def test_l7_permissions_need_an_http_destination(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    api, web = unique("api"), unique("web")
    entry = {"Sources": [{"Name": web, "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/v1"}}]}]}
    with pytest.raises(ConsulException, match="incompatible with L7 intentions permissions"):
        c.config.set("service-intentions", api, entry)
    assert c.config.set("service-defaults", api, {"Protocol": "http"}) is True
    assert c.config.set("service-intentions", api, entry) is True
    assert c.connect.intentions.check(web, api) is False, "L7 intentions cannot be decided without a request"


def test_an_invalid_intention_is_refused_with_consuls_message(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    with pytest.raises(ConsulException, match="Action must be set to 'allow' or 'deny'"):
        c.config.set("service-intentions", unique("api"), {"Sources": [{"Name": unique("web"), "Action": "maybe"}]})


def test_config_entries_support_cas_and_delete(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("svc")
    assert c.config.set("service-defaults", name, {"Protocol": "http"}, cas=0) is True
    assert c.config.set("service-defaults", name, {"Protocol": "grpc"}, cas=0) is False
    current = c.config.get("service-defaults", name)
    assert current["Protocol"] == "http"
    assert c.config.set("service-defaults", name, {"Protocol": "grpc"}, cas=current["ModifyIndex"]) is True
    assert any(e["Name"] == name for e in c.config.list("service-defaults"))
    assert c.config.delete("service-defaults", name) is True
    resp = requests.get(f"{consul.url}/v1/config/service-defaults/{name}", timeout=5)
    assert resp.status_code == 404
    assert "Config entry not found" in resp.text
