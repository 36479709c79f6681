"""Checks across documents when KV changes: the change that breaks a reference is the one refused."""

from __future__ import annotations

from mesh.traffic.planes import l7_protocols
from mesh.traffic.state import TrafficState, next_state
from tests.unit.traffic.test_state import PREFIX, RESOLVER, SPLIT_80_20, SPLITTER, SUBSETS, apply, entry

ONLY_V1 = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}}"
SPLIT_ALL_V1 = "Splits: [{Weight: 100, ServiceSubset: v1}]"
SPLIT_90_10 = "Splits: [{Weight: 90, ServiceSubset: v1}, {Weight: 10, ServiceSubset: v2}]"


def in_force() -> TrafficState:
    return apply(TrafficState(), entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, SPLIT_80_20, 7))


def test_a_resolver_change_that_drops_a_subset_in_use_is_refused_and_blames_the_user() -> None:
    after = apply(in_force(), entry(RESOLVER, ONLY_V1, 9), entry(SPLITTER, SPLIT_80_20, 7))
    resolver = after.resolver("api")
    assert resolver is not None
    assert resolver.subset("v2") is not None
    error = after.errors[RESOLVER]
    assert (error.outcome, error.kept_index) == ("rejected", 5)
    assert "with it, service-splitter/api: Splits[1].ServiceSubset: service 'api' has no subset 'v2'" in error.message
    assert SPLITTER not in after.errors


def test_both_sides_of_a_coordinated_change_apply_together() -> None:
    after = apply(in_force(), entry(RESOLVER, ONLY_V1, 9), entry(SPLITTER, SPLIT_ALL_V1, 10))
    assert after.errors == {}
    assert after.versions() == {"service-resolver/api": 9, "service-splitter/api": 10}


def test_of_two_changes_that_clash_the_one_breaking_the_other_is_refused() -> None:
    # The splitter's new weights are fine with the subsets in force; dropping v2 is what breaks.
    after = apply(in_force(), entry(RESOLVER, ONLY_V1, 9), entry(SPLITTER, SPLIT_90_10, 10))
    assert after.versions() == {"service-resolver/api": 5, "service-splitter/api": 10}
    assert list(after.errors) == [RESOLVER]


def test_a_document_wrong_by_itself_is_refused_without_taking_others_down() -> None:
    after = apply(
        in_force(),
        entry(RESOLVER, SUBSETS + "\nConnectTimeout: 2s", 9),
        entry(SPLITTER, "Splits: [{Weight: 100, ServiceSubset: v9}]", 10),
    )
    assert after.versions() == {"service-resolver/api": 9, "service-splitter/api": 7}
    assert list(after.errors) == [SPLITTER]


def test_deleting_a_referenced_document_applies_and_flags_the_referencing_one_still_in_force() -> None:
    after = apply(in_force(), entry(SPLITTER, SPLIT_80_20, 7))
    assert after.resolver("api") is None
    assert after.splitter("api") is not None
    error = after.errors[SPLITTER]
    assert (error.outcome, error.modify_index) == ("in_force", 7)
    assert "broken reference" in error.message
    restored = apply(after, entry(RESOLVER, SUBSETS, 11), entry(SPLITTER, SPLIT_80_20, 7))
    assert restored.errors == {}


def test_a_split_loop_closed_by_two_new_documents_refuses_one_of_them() -> None:
    web = f"{PREFIX}/service-splitter/web"
    after = apply(
        TrafficState(),
        entry(SPLITTER, "Splits: [{Weight: 100, Service: web}]", 3),
        entry(web, "Splits: [{Weight: 100, Service: api}]", 4),
    )
    assert len(after.documents) == 1
    (refused,) = after.errors.values()
    assert "split loop" in refused.message


GRPC_DEFAULTS = (f"{PREFIX}/service-defaults/api", "Protocol: grpc")


def test_a_splitter_of_a_grpc_service_applies_on_the_envoy_plane_and_is_refused_on_the_builtin_one() -> None:
    first = [entry(*GRPC_DEFAULTS, 3), entry(RESOLVER, SUBSETS, 5)]
    listing = [*first, entry(SPLITTER, SPLIT_80_20, 7)]
    for plane in ("envoy", "builtin"):
        assert next_state(TrafficState(), first, prefix=PREFIX, l7=l7_protocols(plane)).errors == {}
    envoy = next_state(
        next_state(TrafficState(), first, prefix=PREFIX, l7=l7_protocols("envoy")),
        listing,
        prefix=PREFIX,
        l7=l7_protocols("envoy"),
    )
    assert envoy.errors == {}
    assert envoy.splitter("api") is not None
    before = next_state(TrafficState(), first, prefix=PREFIX)
    builtin = next_state(before, listing, prefix=PREFIX, l7=l7_protocols("builtin"))
    assert builtin.splitter("api") is None
    error = builtin.errors[SPLITTER]
    assert error.outcome == "rejected"
    assert "need data_plane: envoy" in error.message
