"""`meshctl explain`: a dry run of the router that agrees with mesh.routing's own decisions."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from mesh.cli.route_dry_run import Question, dry_run
from mesh.routing import RequestInfo, endpoints_for_target, plan_request
from mesh.snapshot.endpoints import endpoints_from_health
from mesh.traffic.state import TrafficState, next_state
from tests.support.ports import free_port
from tests.unit.cli.conftest import AdminStandIn, ConsulStandIn

RESOLVER = {
    "DefaultSubset": "v1",
    "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}},
}
ROUTER = {
    "Routes": [
        {"Match": {"HTTP": {"Header": [{"Name": "x-canary", "Exact": "1"}]}}, "Destination": {"ServiceSubset": "v2"}}
    ]
}
SPLITTER = {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]}


def instance(consul: ConsulStandIn, name: str, version: str, protocol: str = "http", service: str = "api") -> None:
    """An instance as a host agent registers it: a connect-proxy carrying the service's meta and protocol."""
    consul.client.agent.service.register(
        f"{service}-sidecar-proxy",
        service_id=f"{name}-sidecar-proxy",
        address=f"10.0.0.{len(name)}",
        port=20000 + sum(map(ord, name)) % 1000,
        meta={"version": version},
        kind="connect-proxy",
        proxy={"DestinationServiceName": service, "DestinationServiceID": name, "Config": {"protocol": protocol}},
    )


def document(consul: ConsulStandIn, kind: str, body: dict[str, Any], service: str = "api") -> None:
    assert consul.client.kv.put(f"mesh/config/{kind}/{service}", json.dumps(body))


def no_agent() -> str:
    """An admin URL nothing answers on."""
    return f"http://127.0.0.1:{free_port('127.0.0.1')}"


def explain(consul: ConsulStandIn, *argv: str, admin: str | None = None) -> tuple[int, dict[str, Any]]:
    run = consul.meshctl("explain", *argv, "--admin", admin or no_agent(), "-o", "json")
    assert run.err == ""
    return run.code, json.loads(run.out)


@pytest.fixture
def canary(consul_standin: ConsulStandIn) -> ConsulStandIn:
    instance(consul_standin, "api-a", "v1")
    instance(consul_standin, "api-b", "v2")
    document(consul_standin, "service-resolver", RESOLVER)
    document(consul_standin, "service-router", ROUTER)
    return consul_standin


def test_a_header_route_sends_the_request_to_its_subset_and_an_endpoint_in_it(canary: ConsulStandIn) -> None:
    code, answer = explain(canary, "api", "--header", "x-canary=1", "--path", "/users")
    assert code == 0
    e = answer["explain"]
    assert (e["route"]["index"], e["target"]["subset"]) == (0, "v2")
    assert e["endpoints"]["chosen"]["instance"] == "api-b"
    assert [m["instance"] for m in e["endpoints"]["in_subset"]] == ["api-b"]


def test_a_request_no_route_matches_takes_the_default_subset_and_says_which_condition_failed(
    canary: ConsulStandIn,
) -> None:
    code, answer = explain(canary, "api", "--header", "x-canary=0")
    e = answer["explain"]
    assert code == 0
    assert e["route"]["index"] is None
    assert e["route"]["tried"] == [{"index": 0, "reason": "Header['x-canary']: value '0' fails Exact '1'"}]
    assert (e["target"]["subset"], e["endpoints"]["chosen"]["instance"]) == ("v1", "api-a")


def test_the_dry_run_draws_the_split_exactly_as_plan_request_does(canary: ConsulStandIn) -> None:
    document(canary, "service-router", {"Routes": []})
    document(canary, "service-splitter", SPLITTER)
    traffic = next_state(TrafficState(), canary.client.kv.get("mesh/config/", recurse=True)[1], prefix="mesh/config")
    of = endpoints_of(canary)
    request = RequestInfo(method="GET", path="/")
    seen = set()
    for seed in range(20):
        answer = dry_run(traffic, Question("api", "dc1"), of, random.Random(seed))
        plan = plan_request(traffic, "api", "dc1", request, random.Random(seed))
        members = endpoints_for_target(plan.target, of("api", "dc1"), plan.backend.resolver)
        assert answer["explain"]["target"]["subset"] == plan.target.subset
        assert answer["explain"]["endpoints"]["chosen"]["instance"] == members[0].instance_id
        seen.add(plan.target.subset)
    assert seen == {"v1", "v2"}


def test_a_subset_without_healthy_endpoints_fails_over_as_the_resolver_says(consul_standin: ConsulStandIn) -> None:
    instance(consul_standin, "api-a", "v1")
    document(consul_standin, "service-resolver", {**RESOLVER, "Failover": {"v2": {"ServiceSubset": "v1"}}})
    document(consul_standin, "service-router", ROUTER)
    code, answer = explain(consul_standin, "api", "--header", "x-canary=1")
    assert code == 0
    assert answer["failed_over_to"] == "api/v1@dc1"
    assert answer["explain"]["endpoints"]["chosen"]["instance"] == "api-a"


def endpoints_of(consul: ConsulStandIn) -> Any:
    def of(service: str, dc: str) -> Any:
        return endpoints_from_health(consul.client.health.connect(service, dc=dc)[1], dc)

    return of


def agent_status(consul: ConsulStandIn, *, ejected: set[str]) -> dict[str, Any]:
    """The agent's /v1/status listing api's endpoints as it sees them, `ejected` (instances) out."""
    listed = [
        {"address": e.address, "port": e.port, "node": e.node, "instance": e.instance_id, "health": e.health}
        | {"ejected": e.instance_id in ejected, "ejected_until": 1e10 if e.instance_id in ejected else None}
        for e in endpoints_of(consul)("api", "dc1")
    ]
    return {"node": "host-a", "endpoints": {"api@dc1": listed}}


def test_an_endpoint_the_agent_has_ejected_is_skipped_and_marked(
    consul_standin: ConsulStandIn, admin: AdminStandIn
) -> None:
    instance(consul_standin, "api-a", "v1")
    instance(consul_standin, "api-aa", "v1")
    document(consul_standin, "service-resolver", RESOLVER)
    admin.document = agent_status(consul_standin, ejected={"api-a"})
    for _ in range(5):  # whatever the round-robin start
        code, answer = explain(consul_standin, "api", admin=admin.url)
        endpoints = answer["explain"]["endpoints"]
        assert code == 0
        assert endpoints["chosen"]["instance"] == "api-aa"
        assert {m["instance"]: m["ejected"] for m in endpoints["in_subset"]} == {"api-a": True, "api-aa": False}
    assert answer["ejections"]["unknown"] is None
    assert len(answer["ejections"]["ejected"]) == 1


def test_a_subset_whose_endpoints_are_all_ejected_fails_over_as_the_agent_would(
    consul_standin: ConsulStandIn, admin: AdminStandIn
) -> None:
    instance(consul_standin, "api-a", "v1")
    instance(consul_standin, "api-b", "v2")
    document(consul_standin, "service-resolver", {**RESOLVER, "Failover": {"v2": {"ServiceSubset": "v1"}}})
    document(consul_standin, "service-router", ROUTER)
    admin.document = agent_status(consul_standin, ejected={"api-b"})
    code, answer = explain(consul_standin, "api", "--header", "x-canary=1", admin=admin.url)
    assert code == 0
    assert (answer["failed_over_to"], answer["failed_over_by"]) == ("api/v1@dc1", "failover")
    assert answer["explain"]["endpoints"]["chosen"]["instance"] == "api-a"


def test_when_every_endpoint_is_ejected_the_agent_uses_them_anyway(consul_standin: ConsulStandIn) -> None:
    instance(consul_standin, "api-a", "v1")
    document(consul_standin, "service-resolver", RESOLVER)
    traffic = next_state(
        TrafficState(), consul_standin.client.kv.get("mesh/config/", recurse=True)[1], prefix="mesh/config"
    )
    [only] = endpoints_of(consul_standin)("api", "dc1")
    answer = dry_run(
        traffic, Question("api", "dc1"), endpoints_of(consul_standin), random.Random(0), ejected={only.key}
    )
    assert answer["explain"]["endpoints"]["chosen"] == {
        "instance": "api-a",
        "node": only.node,
        "address": f"{only.address}:{only.port}",
        "health": "passing",
        "ejected": True,
    }
    assert any("ejected by outlier detection" in note for note in answer["notes"])


def test_a_split_without_usable_endpoints_gives_its_weight_to_the_splits_that_can_serve(
    consul_standin: ConsulStandIn,
) -> None:
    instance(consul_standin, "api-a", "v1")
    document(consul_standin, "service-resolver", RESOLVER)
    document(consul_standin, "service-splitter", SPLITTER)
    traffic = next_state(
        TrafficState(), consul_standin.client.kv.get("mesh/config/", recurse=True)[1], prefix="mesh/config"
    )
    moved = []
    for seed in range(20):
        answer = dry_run(traffic, Question("api", "dc1"), endpoints_of(consul_standin), random.Random(seed))
        assert answer["explain"]["endpoints"]["chosen"]["instance"] == "api-a"
        if answer["planned_target"] == "api/v2@dc1":
            moved.append((answer["failed_over_to"], answer["failed_over_by"]))
    assert moved
    assert set(moved) == {("api/v1@dc1", "split")}


def test_without_an_agent_to_ask_ejections_are_unknown_and_said_so(canary: ConsulStandIn) -> None:
    code, answer = explain(canary, "api")
    assert code == 0
    assert answer["ejections"]["unknown"].startswith("cannot reach the agent's admin API")
    assert answer["notes"][0].startswith("outlier ejections not known")
    assert "ejected" not in answer["explain"]["endpoints"]["chosen"]


def test_no_endpoint_means_exit_1_and_says_the_request_would_fail(consul_standin: ConsulStandIn) -> None:
    document(consul_standin, "service-resolver", RESOLVER)
    code, answer = explain(consul_standin, "api")
    assert code == 1
    assert "the request would fail" in answer["notes"][-1]


def test_a_tcp_upstream_is_explained_as_a_connection(consul_standin: ConsulStandIn) -> None:
    instance(consul_standin, "db-1", "v1", protocol="tcp", service="db")
    code, answer = explain(consul_standin, "db", "--path", "/ignored")
    assert code == 0
    assert (answer["protocol"], answer["request"]) == ("tcp", None)
    assert answer["explain"]["route"]["why"] == "connection: routes apply to HTTP requests only"


def test_documents_the_agents_reject_are_left_out_and_listed(canary: ConsulStandIn) -> None:
    canary.client.kv.put("mesh/config/service-router/api", '{"Routes": [{"Match": {"HTTP": {"PathPrefix": "x"}}}]}')
    code, answer = explain(canary, "api", "--header", "x-canary=1")
    assert code == 0
    assert answer["explain"]["target"]["subset"] == "v1"
    assert list(answer["documents"]["not_in_force"]) == ["mesh/config/service-router/api"]


def test_the_table_names_route_split_target_and_endpoint(canary: ConsulStandIn) -> None:
    run = canary.meshctl("explain", "api", "--header", "x-canary=1", "--path", "/users", "--admin", no_agent())
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "GET /users to api@dc1 (http)"
    assert lines[1] == "route      Routes[0] (every condition holds)"
    assert "target     api, subset v2, dc1" in lines
    assert any(line.startswith("chosen     api-b on ") for line in lines)
