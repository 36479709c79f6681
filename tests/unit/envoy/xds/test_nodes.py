"""Envoys by node id: the newest stream describes a node, NACK counts outlive streams, few ghosts are kept."""

from __future__ import annotations

import time

from mesh.envoy.xds import CLUSTER
from mesh.envoy.xds.catalog import Catalog
from mesh.envoy.xds.nodes import KEPT_DISCONNECTED, Nodes
from mesh.envoy.xds.session import Request, Session
from mesh.envoy.xds.status import Nack
from tests.unit.envoy.xds.support import basic_set


def catalog() -> Catalog:
    c = Catalog()
    c.publish(basic_set())
    return c


def test_the_newest_stream_of_a_node_describes_it() -> None:
    nodes, published = Nodes(), catalog()
    old, new = Session(), Session()
    old.receive(Request(CLUSTER, "", "", frozenset()))
    old.responses(published)
    nodes.open("n", 1, old)
    nodes.open("n", 2, new)  # a restarted Envoy, before its old stream is noticed gone
    node = nodes.status(published).nodes["n"]
    assert (node.streams, node.types[CLUSTER].sent_version) == (2, None)
    nodes.close("n", 2)
    node = nodes.status(published).nodes["n"]
    assert (node.connected, node.streams, node.types[CLUSTER].sent_version) == (True, 1, "1")
    nodes.close("n", 1)
    assert not nodes.status(published).nodes["n"].connected


def test_nacks_belong_to_the_node_across_streams() -> None:
    nodes, published = Nodes(), catalog()
    nodes.open("n", 1, Session())
    nodes.nacked("n", CLUSTER, Nack("1", "no", time.time()))
    nodes.close("n", 1)
    nodes.open("n", 2, Session())
    node = nodes.status(published).nodes["n"]
    assert node.types[CLUSTER].nack_count == 1
    assert node.types[CLUSTER].last_nack is not None


def test_only_the_most_recent_disconnected_nodes_are_kept() -> None:
    nodes, published = Nodes(), catalog()
    nodes.open("live", 0, Session())
    for i in range(1, KEPT_DISCONNECTED + 6):
        nodes.open(f"gone-{i}", i, Session())
        nodes.close(f"gone-{i}", i)
    kept = nodes.status(published).nodes
    assert "live" in kept
    assert len(kept) == KEPT_DISCONNECTED + 1
    assert "gone-1" not in kept
    assert f"gone-{KEPT_DISCONNECTED + 5}" in kept


def test_a_node_that_never_connected_is_not_ready() -> None:
    status = Nodes().status(catalog())
    assert not status.ready
    assert status.nacks() == 0
