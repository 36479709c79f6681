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
        ({}, [spiffe("web") + "\n"], "not_a_service_identity"),
        ({}, [f"spiffe://{TD}/ns/other/dc/dc1/svc/web"], "wrong_namespace"),
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


def test_a_caller_in_another_namespace_is_not_the_service_of_that_name() -> None:
    """The mesh speaks only the default namespace: `ns/other/.../svc/web` is not `web`."""
    leaf = make_leaf(CA, [f"spiffe://{TD}/ns/other/dc/dc1/svc/web"])
    with pytest.raises(PeerRejected) as info:
        peer_identity(leaf.der, trust_domain=TD)
    assert info.value.reason == "wrong_namespace"


def test_a_server_in_another_namespace_is_not_the_destination_meant() -> None:
    leaf = make_leaf(CA, [f"spiffe://{TD}/ns/other/dc/dc1/svc/api"])
    with pytest.raises(PeerRejected) as info:
        peer_identity(leaf.der, trust_domain=TD, expect_service="api")
    assert info.value.reason == "wrong_namespace"


def test_a_service_of_another_datacenter_of_our_trust_domain_is_that_service() -> None:
    """Consul matches intention sources by name across the datacenters of one trust domain."""
    identity = peer_identity(make_leaf(CA, [spiffe("web", dc="dc2")]).der, trust_domain=TD)
    assert (identity.service, identity.datacenter) == ("web", "dc2")


def test_another_datacenter_of_another_trust_domain_is_still_refused() -> None:
    with pytest.raises(PeerRejected) as info:
        peer_identity(make_leaf(CA, [spiffe("web", td="other.consul", dc="dc2")]).der, trust_domain=TD)
    assert info.value.reason == "wrong_trust_domain"
