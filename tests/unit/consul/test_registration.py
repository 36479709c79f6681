"""What the agent registers in Consul for a local service."""

from mesh.config import parse_config
from mesh.consul.registration import liveness_check_id, proxy_registration, service_registration

CONFIG = parse_config(
    """
node: vm-1
advertise_address: 10.0.0.5
vault: {auth: {method: token, token_file: /t}}
services:
  - name: api
    port: 8080
    protocol: http
    tags: [v2]
    meta: {version: v2}
    weights: {passing: 10, warning: 1}
    workload: container
    check: {http: /health, interval: 5s}
    upstreams: [{destination_name: db, local_bind_port: 15432, datacenter: dc2}]
"""
)
API = CONFIG.services[0]


def test_the_service_carries_its_check_tags_meta_workload_and_weights() -> None:
    reg = service_registration(API).kwargs
    assert reg["name"] == "api"
    assert reg["service_id"] == "api-vm-1"
    assert reg["meta"] == {"version": "v2", "workload": "container"}
    assert reg["weights"] == {"Passing": 10, "Warning": 1}
    assert reg["check"]["HTTP"] == "http://127.0.0.1:8080/health"
    assert reg["check"]["Interval"] == "5s"


def test_the_proxy_points_at_the_inbound_listener_and_declares_upstreams() -> None:
    reg = proxy_registration(API, node="vm-1", advertise_address="10.0.0.5", inbound_port=20000, liveness_ttl=10)
    kw = reg.kwargs
    assert kw["kind"] == "connect-proxy"
    assert (kw["address"], kw["port"]) == ("10.0.0.5", 20000)
    assert kw["proxy"]["DestinationServiceName"] == "api"
    assert kw["proxy"]["Config"] == {"protocol": "http"}
    assert kw["proxy"]["Upstreams"] == [
        {
            "DestinationType": "service",
            "DestinationName": "db",
            "LocalBindAddress": "127.0.0.1",
            "LocalBindPort": 15432,
            "Datacenter": "dc2",
        }
    ]
    # Subset filters over Service.Meta/Tags work on the proxy, as with Consul sidecars.
    assert kw["tags"] == ["v2"]
    assert kw["meta"]["version"] == "v2"


def test_the_proxy_goes_critical_when_the_agent_or_the_app_is_gone() -> None:
    kw = proxy_registration(API, node="vm-1", advertise_address="10.0.0.5", inbound_port=1, liveness_ttl=10).kwargs
    assert kw["check"] == {
        "CheckID": liveness_check_id(API),
        "Name": "mesh-agent alive",
        "TTL": "10s",
        "Notes": "kept passing by mesh-agent on vm-1",
    }
    assert kw["extra_checks"] == [{"Name": "api app", "AliasService": "api-vm-1"}]
