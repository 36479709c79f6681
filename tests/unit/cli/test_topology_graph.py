"""The service graph of `meshctl topology`: services from Consul's answers, edges, verdicts."""

from __future__ import annotations

from typing import Any

from mesh.cli.intention_check import intention_table
from mesh.cli.topology_graph import Service, Traffic, as_document, build, services_from_connect_health


def proxy(protocol: str, *upstreams: str | tuple[str, str], node: str = "n1") -> dict[str, Any]:
    """One `/v1/health/connect/<name>` entry as the agents register it."""
    ups = [
        {"DestinationType": "service", "DestinationName": u}
        if isinstance(u, str)
        else {"DestinationType": "service", "DestinationName": u[0], "Datacenter": u[1]}
        for u in upstreams
    ]
    return {"Node": {"Node": node}, "Service": {"Proxy": {"Config": {"protocol": protocol}, "Upstreams": ups}}}


def allow(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "allow"}


def deny(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "deny"}


def test_services_join_the_upstreams_of_every_instance_in_registration_order() -> None:
    services = services_from_connect_health(
        {"web": [proxy("http", "api"), proxy("http", "api", "billing", node="n2")], "api": [proxy("http")]}
    )
    assert services == [
        Service("api", "http", 1, ()),
        Service("web", "http", 2, (("api", None), ("billing", None))),
    ]


def test_instances_that_disagree_on_the_protocol_make_a_mixed_service() -> None:
    [service] = services_from_connect_health({"api": [proxy("http"), proxy("tcp")]})
    assert service.protocol == "mixed"


def test_a_service_without_proxies_and_odd_entries_are_left_out_not_fatal() -> None:
    answers: dict[str, list[Any]] = {
        "consul": [],
        "web": [
            "not an entry",
            {"Service": None},
            {"Service": {"Proxy": {"Upstreams": [{"DestinationName": 7}, "x", {"DestinationType": "prepared_query"}]}}},
            proxy("http", ("api", "dc2")),
        ],
    }
    assert services_from_connect_health(answers) == [Service("web", "mixed", 2, (("api", "dc2"),))]


def test_each_declared_upstream_is_an_edge_with_the_verdict_of_the_intentions() -> None:
    services = services_from_connect_health(
        {"web": [proxy("http", "api", "billing", "search")], "api": [proxy("http")], "billing": [proxy("http")]}
    )
    table = intention_table([allow("web", "api"), deny("web", "billing")])
    topology = build(services, table, default_allow=False)
    verdicts = {(e.source, e.destination): e.verdict for e in topology.edges}
    # search: no intention, so the configured default decides.
    assert verdicts == {("web", "api"): "allow", ("web", "billing"): "deny", ("web", "search"): "deny"}
    assert [e.destination for e in topology.edges if e.refused] == ["billing", "search"]
    assert build(services, table, default_allow=True).edges[2].verdict == "allow"


def test_an_l7_intention_on_an_http_destination_is_decided_per_request() -> None:
    services = services_from_connect_health({"web": [proxy("http", "api")], "api": [proxy("http")]})
    table = intention_table(
        [
            {
                "SourceName": "web",
                "DestinationName": "api",
                "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}],
            }
        ]
    )
    [edge] = build(services, table, default_allow=False).edges
    assert edge.verdict == "per-request"
    assert not edge.refused


def test_traffic_joins_its_edge_and_traffic_without_a_registration_is_an_observed_edge() -> None:
    services = services_from_connect_health({"web": [proxy("http", "api")], "api": [proxy("http")]})
    seen = Traffic(requests=100, errors=5, rps=10.0, p99=0.02)
    stray = Traffic(requests=3, errors=0, rps=0.3, p99=None)
    topology = build(
        services,
        intention_table([allow("*", "api")]),
        default_allow=False,
        traffic={("web", "api"): seen, ("cron", "api"): stray},
        traffic_from="test",
    )
    edges = {(e.source, e.destination): e for e in topology.edges}
    assert edges[("web", "api")].traffic == seen
    assert edges[("web", "api")].declared
    assert not edges[("cron", "api")].declared
    assert edges[("cron", "api")].verdict == "allow"
    assert seen.error_ratio == 0.05


def test_the_same_upstream_in_two_datacenters_is_one_edge() -> None:
    services = [Service("web", "http", 1, (("api", "dc1"), ("api", "dc2")))]
    [edge] = build(services, intention_table([]), default_allow=True).edges
    assert edge.datacenter == "dc1"


def test_unconnected_services_are_listed() -> None:
    services = services_from_connect_health({"web": [proxy("http", "api")], "batch": [proxy("tcp")]})
    topology = build(services, intention_table([]), default_allow=False)
    assert topology.unconnected() == ["batch"]


def test_the_document_carries_every_edge_with_its_verdict_and_traffic() -> None:
    services = services_from_connect_health({"web": [proxy("http", "api")]})
    topology = build(
        services,
        intention_table([deny("web", "api")]),
        default_allow=True,
        traffic={("web", "api"): Traffic(requests=4, errors=0, rps=None, p99=None)},
        traffic_from="test",
    )
    doc = as_document(topology)
    assert doc["edges"] == [
        {
            "source": "web",
            "destination": "api",
            "datacenter": None,
            "declared": True,
            "verdict": "deny",
            "reason": "intention web => api (deny)",
            "traffic": {"requests": 4, "errors": 0, "rps": None, "error_ratio": 0.0, "p99": None},
        }
    ]
