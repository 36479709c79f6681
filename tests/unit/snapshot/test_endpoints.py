"""Endpoints read from /v1/health/connect answers."""

from typing import Any

from mesh.snapshot.endpoints import endpoints_from_health


def entry(node: str, status: str = "passing", weights: dict[str, int] | None = None, **meta: str) -> dict[str, Any]:
    return {
        "Node": {"Node": node, "Address": "10.0.0.9", "Datacenter": "dc1"},
        "Service": {
            "ID": f"api-{node}-sidecar-proxy",
            "Service": "api-sidecar-proxy",
            "Kind": "connect-proxy",
            "Address": f"10.0.1.{len(node)}",
            "Port": 20000,
            "Tags": ["v1"],
            "Meta": meta,
            "Weights": weights or {"Passing": 1, "Warning": 1},
            "Proxy": {
                "DestinationServiceName": "api",
                "DestinationServiceID": f"api-{node}",
                "Config": {"protocol": "http"},
            },
        },
        "Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "x", "Status": status}],
    }


def test_critical_instances_are_not_endpoints() -> None:
    eps = endpoints_from_health([entry("a"), entry("b", "critical")], "dc1")
    assert [e.node for e in eps] == ["a"]


def test_endpoint_describes_the_destination_not_the_proxy() -> None:
    (ep,) = endpoints_from_health([entry("a", version="v2")], "dc1")
    assert (ep.service, ep.instance_id, ep.protocol) == ("api", "api-a", "http")
    assert dict(ep.meta) == {"version": "v2"}


def test_warning_instances_stay_with_their_warning_weight() -> None:
    eps = endpoints_from_health(
        [entry("a", weights={"Passing": 10, "Warning": 1}), entry("b", "warning", {"Passing": 10, "Warning": 1})], "dc1"
    )
    assert [(e.node, e.health, e.weight) for e in eps] == [("a", "passing", 10), ("b", "warning", 1)]


def test_a_zero_warning_weight_takes_the_instance_out() -> None:
    assert endpoints_from_health([entry("b", "warning", {"Passing": 1, "Warning": 0})], "dc1") == ()
