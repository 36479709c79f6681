"""The mesh's own checks on a peer's leaf, after OpenSSL verified the chain."""

import pytest

from mesh.errors import PeerRejected
from mesh.tls.peer import peer_identity
from tests.support.pki import TD, make_ca, make_leaf, spiffe

CA = make_ca()


def test_a_service_leaf_of_our_trust_domain_is_its_identity() -> None:
    identity = peer_identity(make_leaf(CA, [spiffe("web")]).der, trust_domain=TD)
    assert identity.service == "web"
    assert identity.datacenter == "dc1"


@pytest.mark.parametrize(
    ("leaf_kwargs", "uris", "reason"),
    [
        ({"is_ca": True}, [spiffe("web")], "leaf_is_ca"),
        ({"key_cert_sign": True}, [spiffe("web")], "leaf_can_sign_certificates"),
        ({}, [spiffe("web"), spiffe("db")], "uri_san_count"),
        ({}, [], "no_uri_san"),
        ({}, ["https://example.com/web"], "not_spiffe"),
        ({}, [f"spiffe://{TD}/agent/client/dc/dc1/id/x"], "not_a_service_identity"),
        ({}, [spiffe("web", td="other.consul")], "wrong_trust_domain"),
    ],
)
def test_bad_leaves_are_refused_with_a_stable_reason(
    leaf_kwargs: dict[str, bool], uris: list[str], reason: str
) -> None:
    with pytest.raises(PeerRejected) as info:
        peer_identity(make_leaf(CA, uris, **leaf_kwargs).der, trust_domain=TD)
    assert info.value.reason == reason


def test_a_client_checks_it_reached_the_service_it_meant() -> None:
    with pytest.raises(PeerRejected) as info:
        peer_identity(make_leaf(CA, [spiffe("db")]).der, trust_domain=TD, expect_service="api")
    assert info.value.reason == "wrong_service"


def test_no_certificate_is_refused() -> None:
    with pytest.raises(PeerRejected) as info:
        peer_identity(None, trust_domain=TD)
    assert info.value.reason == "no_certificate"
