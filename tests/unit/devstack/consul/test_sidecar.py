"""A sidecar service's defaults, decided from its parent (pure: no server)."""

from __future__ import annotations

import pytest

from mesh.devstack.consul.model import Service
from mesh.devstack.consul.registration import RegistrationError
from mesh.devstack.consul.sidecar import requested_sidecar, sidecar_definition

PARENT = Service(node="n1", id="web-1", name="web", tags=("v1",), address="10.0.0.5", port=8080, meta={"a": "b"})


def test_an_empty_definition_takes_everything_from_the_parent() -> None:
    out = sidecar_definition({}, PARENT, taken_ports=set())
    assert (out["ID"], out["Name"], out["Kind"]) == ("web-1-sidecar-proxy", "web-sidecar-proxy", "connect-proxy")
    assert (out["Tags"], out["Meta"], out["Address"], out["Port"]) == (["v1"], {"a": "b"}, "10.0.0.5", 21000)
    assert out["Proxy"] == {
        "DestinationServiceName": "web",
        "DestinationServiceID": "web-1",
        "LocalServiceAddress": "127.0.0.1",
        "LocalServicePort": 8080,
    }
    assert out["Checks"] == [
        {"Name": "Connect Sidecar Listening", "TCP": "10.0.0.5:21000", "Interval": "10s"},
        {"Name": "Connect Sidecar Aliasing web-1", "AliasService": "web-1"},
    ]


def test_the_lowest_free_port_is_taken_and_a_previous_one_is_kept() -> None:
    assert sidecar_definition({}, PARENT, taken_ports={21000, 21001, 21003})["Port"] == 21002
    assert sidecar_definition({}, PARENT, taken_ports={21000}, previous_port=21007)["Port"] == 21007
    assert sidecar_definition({}, PARENT, taken_ports={21000}, previous_port=9000)["Port"] == 21001
    with pytest.raises(RegistrationError, match="No sidecar ports available"):
        sidecar_definition({}, PARENT, taken_ports=set(range(21000, 21256)))


def test_what_is_given_is_kept_and_given_checks_replace_the_defaults() -> None:
    given = {"Port": 22000, "Tags": ["proxy"], "Checks": [{"Name": "mine", "TTL": "10s"}], "Address": "10.0.0.6"}
    out = sidecar_definition(given, PARENT, taken_ports=set())
    assert (out["Port"], out["Tags"], out["Address"]) == (22000, ["proxy"], "10.0.0.6")
    assert out["Checks"] == [{"Name": "mine", "TTL": "10s"}]


def test_a_parent_on_a_socket_is_reached_through_it() -> None:
    on_socket = Service(node="n1", id="s", name="s", socket_path="/run/s.sock")
    out = sidecar_definition({}, on_socket, taken_ports=set())
    assert out["Proxy"]["LocalServiceSocketPath"] == "/run/s.sock"
    assert "LocalServicePort" not in out["Proxy"]


def test_the_kind_cannot_change_and_a_sidecar_cannot_nest() -> None:
    with pytest.raises(RegistrationError, match="Kind"):
        sidecar_definition({"Kind": "mesh-gateway"}, PARENT, taken_ports=set())
    with pytest.raises(RegistrationError, match="nested sidecar_service"):
        requested_sidecar({"Name": "web", "Connect": {"SidecarService": {"Connect": {"SidecarService": {}}}}})
    assert requested_sidecar({"name": "web", "connect": {"sidecar_service": {"port": 1}}}) == {"Port": 1}
    assert requested_sidecar({"Name": "web"}) is None
