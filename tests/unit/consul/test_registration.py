"""What the agent registers in Consul for a local service."""

from mesh.config import parse_config
from mesh.consul.liveness import Liveness, choose
from mesh.consul.registration import host_service_registration, proxy_registration, service_registration

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
ON_OWN_NODE = Liveness("node check", "vm-1", 10)
ON_SHARED_NODE = Liveness("host service", "vm-1", 10)


def test_the_service_carries_its_check_tags_meta_workload_and_weights() -> None:
    reg = service_registration(API).kwargs
    assert reg["name"] == "api"
    assert reg["service_id"] == "api-vm-1"
    assert reg["meta"] == {"version": "v2", "workload": "container"}
    assert reg["weights"] == {"Passing": 10, "Warning": 1}
    assert reg["check"]["HTTP"] == "http://127.0.0.1:8080/health"
    assert reg["check"]["Interval"] == "5s"


def test_the_proxy_points_at_the_inbound_listener_and_declares_upstreams() -> None:
    reg = proxy_registration(API, node="vm-1", advertise_address="10.0.0.5", inbound_port=20000, liveness=ON_OWN_NODE)
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


def test_on_its_own_node_the_proxy_follows_the_app_and_the_node_check_covers_the_agent() -> None:
    kw = proxy_registration(API, node="vm-1", advertise_address="10.0.0.5", inbound_port=1, liveness=ON_OWN_NODE).kwargs
    assert kw["check"] == {"Name": "api app", "AliasService": "api-vm-1"}
    assert kw["extra_checks"] == []
    # Registering without the old per-service TTL check removes it from an upgraded host.
    assert kw["replace_existing_checks"] is True


def test_on_a_shared_node_the_proxy_also_aliases_the_host_service_that_carries_the_ttl() -> None:
    kw = proxy_registration(
        API, node="vm-1", advertise_address="10.0.0.5", inbound_port=1, liveness=ON_SHARED_NODE
    ).kwargs
    assert kw["check"] == {"Name": "api app", "AliasService": "api-vm-1"}
    assert kw["extra_checks"] == [{"Name": "mesh-agent alive", "AliasService": "mesh-agent-vm-1"}]
    host = host_service_registration(ON_SHARED_NODE, advertise_address="10.0.0.5")
    assert host.service_id == "mesh-agent-vm-1"
    assert host.kwargs["name"] == "mesh-agent"
    assert host.kwargs["check"] == {
        "CheckID": "mesh-agent:vm-1",
        "Name": "mesh-agent alive",
        "TTL": "10s",
        "Notes": "kept passing by mesh-agent on vm-1",
        "Status": "passing",
    }


def test_the_node_check_is_chosen_only_when_consul_runs_on_this_host() -> None:
    assert choose(consul_node="vm-1", node="vm-1", ttl=10).shape == "node check"
    assert choose(consul_node="devstack-node", node="vm-1", ttl=10).shape == "host service"
    # Unknown (a token without agent:read): a node check could take other hosts down with this one.
    assert choose(consul_node="", node="vm-1", ttl=10).shape == "host service"
