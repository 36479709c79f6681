"""`explain` tells what the plan decided, derived from the plan itself."""

from __future__ import annotations

import json

from mesh.routing import Balancers, endpoints_for_target, explain, plan_connection, plan_request
from tests.unit.routing.world import instance, request, rng, traffic

DOCS = {
    "service-resolver/api": (
        "DefaultSubset: v1\n"
        "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"
    ),
    "service-splitter/api": "Splits: [{Weight: 90, ServiceSubset: v1}, {Weight: 10, ServiceSubset: v2}]",
    "service-router/api": """
Routes:
  - Match: {HTTP: {PathPrefix: /admin, Methods: [POST]}}
    Destination: {Service: admin}
  - Match: {HTTP: {Header: [{Name: x-canary, Exact: '1'}]}}
    Destination: {ServiceSubset: v2}
""",
}


def test_it_says_why_each_earlier_route_did_not_match_and_which_did() -> None:
    state = traffic(DOCS)
    req = request("/admin/users", "GET", {"x-canary": "1"})
    plan = plan_request(state, "api", "dc1", req, rng(), traced=True)
    doc = explain(state, plan, req)
    assert doc["route"]["index"] == 1
    assert doc["route"]["tried"] == [{"index": 0, "reason": "method 'GET' is not one of ['POST']"}]
    assert doc["target"] == {"service": "api", "subset": "v2", "datacenter": "dc1", "requested": None}
    assert doc["split"] is None
    json.dumps(doc)


def test_it_shows_the_split_drawn_and_every_split_with_its_weight() -> None:
    state = traffic(DOCS)
    req = request("/", headers={"x-canary": "0"})
    plan = plan_request(state, "api", "dc1", req, rng(), traced=True)
    doc = explain(state, plan, req)
    assert doc["route"]["matched"] == "default route to the upstream itself"
    assert doc["route"]["why"] == "no route matched"
    assert [t["reason"] for t in doc["route"]["tried"]] == [
        "path '/' does not start with PathPrefix '/admin'",
        "Header['x-canary']: value '0' fails Exact '1'",
    ]
    split = doc["split"]
    assert [(s["target"], s["weight"]) for s in split["splits"]] == [("api/v1@dc1", 90.0), ("api/v2@dc1", 10.0)]
    assert split["chosen"] == list(plan.backend.split_path)
    assert split["total_units"] == 10_000
    assert (split["draw"] < 9_000) == (plan.target.subset == "v1")


def test_explained_choices_agree_with_what_requests_take() -> None:
    state = traffic(DOCS)
    for seed in range(50):
        plan = plan_request(state, "api", "dc1", request("/"), rng(seed), traced=True)
        assert explain(state, plan, request("/"))["target"]["subset"] == plan.target.subset


def test_it_lists_the_subset_members_and_the_balancer_order_when_given() -> None:
    state = traffic(DOCS)
    eps = (instance("a", meta={"version": "v1"}), instance("b", meta={"version": "v2"}))
    plan = plan_connection(state, "api", "dc1", rng(3), traced=True)
    members = endpoints_for_target(plan.target, eps, plan.backend.resolver)
    order = Balancers(rng()).get("api", plan.backend).order(members)
    doc = explain(state, plan, subset_endpoints=members, order=order)
    assert [e["instance"] for e in doc["endpoints"]["in_subset"]] == [e.instance_id for e in members]
    assert doc["endpoints"]["chosen"]["instance"] == order[0].instance_id
    assert doc["route"]["why"] == "connection: routes apply to HTTP requests only"
