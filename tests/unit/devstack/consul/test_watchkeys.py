"""The write-to-watch-key map (pure): what each kind of write touches."""

from __future__ import annotations

from mesh.devstack.consul import watchkeys
from mesh.devstack.consul.indexes import CHECKS, KVS, SERVICES, TOMBSTONES
from mesh.devstack.consul.model import Check, Service


def test_a_kv_write_touches_the_key_and_every_prefix_of_it() -> None:
    touched = watchkeys.kv_write(["a/b"], deleted=False)
    assert touched == {
        watchkeys.table(KVS),
        watchkeys.kv_key("a/b"),
        *(watchkeys.kv_prefix(p) for p in ("", "a", "a/", "a/b")),
    }
    assert watchkeys.table(TOMBSTONES) in watchkeys.kv_write(["a/b"], deleted=True)


def test_a_proxy_write_touches_its_own_name_and_its_destination() -> None:
    proxy = Service(
        node="n1", id="web-1-proxy", name="web-proxy", kind="connect-proxy", proxy={"DestinationServiceName": "web"}
    )
    touched = watchkeys.catalog_write(tables=[SERVICES], indexed=[proxy], viewed=[proxy], nodes=["n1"])
    assert {
        watchkeys.service("web-proxy"),
        watchkeys.connect("web"),
        watchkeys.instances("web-proxy"),
        watchkeys.connect_instances("web"),
        watchkeys.agent_service("n1", "web-1-proxy"),
        watchkeys.node("n1"),
    } <= touched
    assert watchkeys.service("web") not in touched


def test_a_check_write_touches_its_node_and_service_name_lists() -> None:
    check = Check(node="n1", check_id="service:web-1", name="ttl", service_id="web-1", service_name="web")
    touched = watchkeys.catalog_write(tables=[CHECKS], checks=[check])
    assert touched == {watchkeys.table(CHECKS), watchkeys.node_checks("n1"), watchkeys.service_checks("web")}
