"""The L4 listeners' memos give the answers they stand for, and follow a swapped snapshot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mesh.config.model import AgentConfig, LocalService
from mesh.errors import PeerRejected
from mesh.intentions import IntentionTable, intention_from_consul
from mesh.proxy import memo
from mesh.proxy.inbound import InboundListener
from mesh.proxy.memo import BySnapshot, PeerIdentities
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.snapshot.model import MeshSnapshot
from mesh.telemetry.metrics import Metrics
from mesh.tls.peer import peer_identity
from tests.support.pki import TD, make_ca, make_leaf, spiffe


def test_a_derived_value_is_kept_until_the_snapshot_or_the_config_is_replaced() -> None:
    built: list[tuple[object, object]] = []

    def build(snapshot: object, config: object) -> int:
        built.append((snapshot, config))
        return len(built)

    derived: BySnapshot[object, object, int] = BySnapshot(build)
    snapshot, config = object(), object()
    assert derived.get(snapshot, config) == derived.get(snapshot, config) == 1
    assert derived.get(object(), config) == 2
    assert derived.get(snapshot, object()) == 3
    assert len(built) == 3


def test_peer_answers_are_peer_identitys_for_accepted_and_refused_leaves() -> None:
    ca = make_ca()
    good, ca_leaf = make_leaf(ca, [spiffe("web")]).der, make_leaf(ca, [spiffe("web")], is_ca=True).der
    peers = PeerIdentities()
    for _ in range(2):  # the first answer is computed, the second one remembered
        assert peers.identify(good, trust_domain=TD) == peer_identity(good, trust_domain=TD)
        with pytest.raises(PeerRejected) as refused:
            peers.identify(good, trust_domain=TD, expect_service="api")
        assert refused.value.reason == "wrong_service"
        with pytest.raises(PeerRejected) as refused:
            peers.identify(ca_leaf, trust_domain=TD)
        assert refused.value.reason == "leaf_is_ca"
        with pytest.raises(PeerRejected) as refused:
            peers.identify(None, trust_domain=TD)
        assert refused.value.reason == "no_certificate"


def test_peer_answers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "MAX_PEERS", 2)
    ca = make_ca()
    leaves = [make_leaf(ca, [spiffe(f"svc-{i}")]).der for i in range(5)]
    peers = PeerIdentities()
    for i, der in enumerate(leaves):
        assert peers.identify(der, trust_domain=TD).service == f"svc-{i}"
    assert len(peers._answers) <= 2


def test_the_inbound_decision_follows_a_swapped_snapshot() -> None:
    api = LocalService("api", "api-1", port=1)
    state = LiveState(AgentConfig("node-1", "127.0.0.1", services=(api,)), "dc1", TD, MeshSnapshot())
    listener = InboundListener(state, Metrics(), ConnectionTracker())
    assert not listener.decide("web", api).allowed  # default deny
    allow = intention_from_consul({"SourceName": "web", "DestinationName": "api", "Action": "allow"})
    assert allow is not None
    allowing = IntentionTable([allow])
    state.snapshot = replace(state.snapshot, intentions=allowing)
    assert listener.decide("web", api).allowed
    state.config = replace(state.config, intentions_default="allow")
    assert listener.decide("other", api).allowed
    # A service object the configuration does not hold is answered for itself.
    assert listener.speaks_http(replace(api, protocol="http")) is True
    assert listener.speaks_http(api) is False
