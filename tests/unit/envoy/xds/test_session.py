"""The State-of-the-World rules of one stream, as plain decisions (no sockets)."""

from __future__ import annotations

from mesh.envoy.xds import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, SECRET
from mesh.envoy.xds.catalog import Catalog
from mesh.envoy.xds.session import Outcome, Rejected, Request, Response, Session
from tests.unit.envoy.xds.support import basic_set, cluster, listener, resource_set, route


def published() -> Catalog:
    catalog = Catalog()
    catalog.publish(basic_set())
    return catalog


def test_nothing_is_sent_before_envoy_asks() -> None:
    assert Session().responses(published()) == []


def test_nothing_is_sent_before_the_first_publish() -> None:
    session = Session()
    session.receive(Request(CLUSTER, "", "", frozenset()))
    assert session.responses(Catalog()) == []


def test_responses_due_together_go_in_make_before_break_order() -> None:
    session, catalog = Session(), published()
    for url in reversed(PUSH_ORDER):
        names = frozenset() if url in (CLUSTER, LISTENER) else frozenset({"c1", "r1", "s1"})
        session.receive(Request(url, "", "", names))
    assert [r.type_url for r in session.responses(catalog)] == [SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE]


def test_an_ack_is_counted_once_per_nonce() -> None:
    session, catalog = Session(), published()
    session.receive(Request(ENDPOINT, "", "", frozenset({"c1"})))
    (sent,) = session.responses(catalog)
    ack = Request(ENDPOINT, sent.version, sent.nonce, frozenset({"c1"}))
    assert session.receive(ack) == Outcome(acked="1")
    # The same nonce again, now with one more name: a subscription change, not a second ACK.
    assert session.receive(Request(ENDPOINT, sent.version, sent.nonce, frozenset({"c1", "c2"}))) == Outcome()
    (more,) = session.responses(catalog)
    assert (more.type_url, more.version, len(more.resources)) == (ENDPOINT, "1", 2)


def test_a_nack_names_the_refused_version_and_the_one_kept() -> None:
    session, catalog = Session(), published()
    session.receive(Request(CLUSTER, "", "", frozenset()))
    (first,) = session.responses(catalog)
    session.receive(Request(CLUSTER, first.version, first.nonce, frozenset()))
    catalog.publish(resource_set(clusters={"x": cluster("x")}))
    (second,) = session.responses(catalog)
    outcome = session.receive(Request(CLUSTER, "1", second.nonce, frozenset(), error="no"))
    assert outcome == Outcome(nacked=Rejected(version="2", kept_version="1", message="no"))
    assert session.responses(catalog) == []  # not sent again
    assert session.types[CLUSTER].acked_version == "1"


def test_an_ack_of_an_older_version_than_sent_is_not_an_ack() -> None:
    session, catalog = Session(), published()
    session.receive(Request(CLUSTER, "", "", frozenset()))
    (sent,) = session.responses(catalog)
    assert session.receive(Request(CLUSTER, "0", sent.nonce, frozenset())) == Outcome()
    assert session.types[CLUSTER].acked_version is None


def test_a_nonce_never_sent_is_stale() -> None:
    session = Session()
    assert session.receive(Request(CLUSTER, "1", "42", frozenset())) == Outcome(stale=True)
    assert not session.types[CLUSTER].requested


def test_a_type_not_served_is_reported_as_unknown() -> None:
    outcome = Session().receive(Request("type.googleapis.com/envoy.Nope", "", "", frozenset()))
    assert outcome == Outcome(unknown_type=True)


def test_a_named_type_with_no_names_is_not_subscribed() -> None:
    session, catalog = Session(), published()
    session.receive(Request(ROUTE, "", "", frozenset()))
    assert session.responses(catalog) == []
    assert not session.types[ROUTE].subscribed


def test_nonces_are_unique_on_a_stream() -> None:
    session, catalog = Session(), published()
    session.receive(Request(CLUSTER, "", "", frozenset()))
    session.receive(Request(LISTENER, "", "", frozenset()))
    nonces = [r.nonce for r in session.responses(catalog)]
    catalog.publish(resource_set(clusters={"x": cluster("x")}))
    nonces += [r.nonce for r in session.responses(catalog)]
    assert len(nonces) == len(set(nonces)) == 4  # CDS and LDS twice (the second set has no listeners)


SUBSCRIPTIONS = {ROUTE: frozenset({"r1"})}


def _ack(session: Session, responses: list[Response]) -> None:
    """ACK each response, as an Envoy that takes everything does."""
    for r in responses:
        session.receive(Request(r.type_url, r.version, r.nonce, SUBSCRIPTIONS.get(r.type_url, frozenset())))


def _envoy(catalog: Catalog) -> Session:
    """A stream that asks for clusters, listeners and route r1, and has ACKed what was published."""
    session = Session()
    for url in (CLUSTER, LISTENER, ROUTE):
        session.receive(Request(url, "", "", SUBSCRIPTIONS.get(url, frozenset())))
    _ack(session, session.responses(catalog))
    return session


def test_a_removed_cluster_stays_until_envoy_has_the_routes_that_no_longer_use_it() -> None:
    catalog = Catalog()
    catalog.publish(
        resource_set(
            clusters={"old": cluster("old")}, listeners={"l1": listener("l1")}, routes={"r1": route("r1", "/old")}
        )
    )
    session = _envoy(catalog)
    old_entry = catalog.get(CLUSTER).entries["old"]  # type: ignore[union-attr]
    # Traffic moves from `old` to `new`: the route changes and `old` goes, in one publish.
    catalog.publish(
        resource_set(
            clusters={"new": cluster("new")}, listeners={"l1": listener("l1")}, routes={"r1": route("r1", "/new")}
        )
    )
    make = session.responses(catalog)
    assert [(r.type_url, r.version) for r in make] == [(CLUSTER, "2+keep1"), (ROUTE, "2")]
    assert old_entry in make[0].resources
    assert len(make[0].resources) == 2
    _ack(session, make)  # Envoy takes both
    (brk,) = session.responses(catalog)
    assert (brk.type_url, brk.version) == (CLUSTER, "2")
    assert old_entry not in brk.resources
    assert len(brk.resources) == 1


def test_a_rejected_route_keeps_the_clusters_it_uses() -> None:
    catalog = Catalog()
    catalog.publish(resource_set(clusters={"old": cluster("old")}, routes={"r1": route("r1", "/old")}))
    session = _envoy(catalog)
    catalog.publish(resource_set(clusters={"new": cluster("new")}, routes={"r1": route("r1", "/new")}))
    cds, rds = session.responses(catalog)
    session.receive(Request(CLUSTER, cds.version, cds.nonce, frozenset()))
    session.receive(Request(ROUTE, "1", rds.nonce, frozenset({"r1"}), error="bad route"))
    assert session.responses(catalog) == []  # Envoy still routes to `old`: it stays
    assert session.types[CLUSTER].acked_version == "2+keep1"
    # A route Envoy takes lets it go.
    catalog.publish(resource_set(clusters={"new": cluster("new")}, routes={"r1": route("r1", "/fixed")}))
    (rds,) = session.responses(catalog)
    session.receive(Request(ROUTE, rds.version, rds.nonce, frozenset({"r1"})))
    (cds,) = session.responses(catalog)
    assert (cds.version, len(cds.resources)) == ("2", 1)


def test_removals_with_no_listener_or_route_change_are_sent_at_once() -> None:
    catalog = Catalog()
    catalog.publish(resource_set(clusters={"a": cluster("a"), "b": cluster("b")}, routes={"r1": route("r1")}))
    session = _envoy(catalog)
    catalog.publish(resource_set(clusters={"a": cluster("a")}, routes={"r1": route("r1")}))
    (cds,) = session.responses(catalog)
    assert (cds.version, len(cds.resources)) == ("2", 1)


def test_a_cluster_update_is_followed_by_its_endpoints_even_when_they_did_not_change() -> None:
    """An updated cluster warms until its endpoints arrive; Envoy would wait for them in vain."""
    session, catalog = Session(), published()
    session.receive(Request(CLUSTER, "", "", frozenset()))
    session.receive(Request(ENDPOINT, "", "", frozenset({"c1", "c2"})))
    first = {r.type_url: r for r in session.responses(catalog)}
    for url, sent in first.items():
        session.receive(Request(url, sent.version, sent.nonce, frozenset({"c1", "c2"})))
    assert session.responses(catalog) == []
    catalog.publish(basic_set(cluster_timeout=7))  # the clusters change; their endpoints do not
    again = session.responses(catalog)
    assert [(r.type_url, r.version) for r in again] == [(CLUSTER, "2"), (ENDPOINT, "1")]
    assert len(again[1].resources) == 2
    for sent in again:
        session.receive(Request(sent.type_url, sent.version, sent.nonce, frozenset({"c1", "c2"})))
    assert session.responses(catalog) == []  # once, not on every turn
