"""Versions per type: a new one only when a type's serialized resources change."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from mesh.envoy.xds import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, SECRET, InvalidResourceSet
from mesh.envoy.xds.catalog import Catalog
from tests.unit.envoy.xds.support import basic_set, cluster, endpoints, listener, resource_set


def test_the_first_publish_versions_every_type_absent_ones_as_empty() -> None:
    catalog = Catalog()
    assert catalog.publish(resource_set(clusters={"c1": cluster("c1")})) == list(PUSH_ORDER)
    secrets = catalog.get(SECRET)
    assert secrets is not None
    assert (secrets.version, dict(secrets.entries)) == ("1", {})


def test_equal_content_keeps_the_version() -> None:
    catalog = Catalog()
    catalog.publish(basic_set())
    before = catalog.get(CLUSTER)
    assert catalog.publish(basic_set()) == []
    assert catalog.get(CLUSTER) is before


def test_one_changed_resource_versions_its_type_only() -> None:
    catalog = Catalog()
    catalog.publish(basic_set())
    before = catalog.get(CLUSTER)
    assert catalog.publish(basic_set(cluster_timeout=5)) == [CLUSTER]
    after = catalog.get(CLUSTER)
    assert before is not None
    assert after is not None
    assert after.version == "2"
    assert after.entries["c2"] == before.entries["c2"]
    assert after.entries["c1"] != before.entries["c1"]


def test_removing_a_resource_is_a_change() -> None:
    catalog = Catalog()
    catalog.publish(resource_set(listeners={"a": listener("a"), "b": listener("b", 15001)}))
    assert catalog.publish(resource_set(listeners={"a": listener("a")})) == [LISTENER]


def test_map_order_does_not_make_a_change() -> None:
    one, two = cluster_pb2.Cluster(name="c"), cluster_pb2.Cluster(name="c")
    one.metadata.filter_metadata["a"].fields["x"].string_value = "1"
    one.metadata.filter_metadata["b"].fields["y"].string_value = "2"
    two.metadata.filter_metadata["b"].fields["y"].string_value = "2"
    two.metadata.filter_metadata["a"].fields["x"].string_value = "1"
    catalog = Catalog()
    catalog.publish(resource_set(clusters={"c": one}))
    assert catalog.publish(resource_set(clusters={"c": two})) == []


def test_selection_by_name_skips_names_not_published() -> None:
    catalog = Catalog()
    catalog.publish(basic_set())
    eds = catalog.get(ENDPOINT)
    assert eds is not None
    assert eds.select(frozenset({"c2", "missing"})) == [eds.entries["c2"]]
    assert eds.select(None) == [eds.entries["c1"], eds.entries["c2"]]


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"type.googleapis.com/envoy.Unknown": {}}, "unknown xDS type URL"),
        ({CLUSTER: {"c1": listener("c1")}}, "is a envoy.config.listener.v3.Listener, not a envoy.config.cluster"),
        ({CLUSTER: {"c1": "not a message"}}, "is a str"),
        ({CLUSTER: {"": cluster("")}}, "non-empty string"),
        ({CLUSTER: {"c1": cluster("other")}}, "names itself 'other'"),
        ({ENDPOINT: {"c1": endpoints("c2")}}, "names itself 'c2'"),
    ],
)
def test_a_set_that_cannot_be_served_is_refused_and_changes_nothing(resources: object, message: str) -> None:
    catalog = Catalog()
    catalog.publish(basic_set())
    versions = dict(catalog.versions())
    with pytest.raises(InvalidResourceSet, match=message):
        catalog.publish(resources)  # type: ignore[arg-type]
    assert dict(catalog.versions()) == versions
