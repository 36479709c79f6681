"""The trust bundle: Vault's issuing chain plus Consul's CA roots, CAs only, each once."""

import pytest

from mesh.certs.bundle import BundleError, merge, parse_ca, parse_chain, roots_from_consul, same_issuer
from tests.support.pki import make_ca, make_leaf, spiffe

OLD_ROOT = make_ca("Old Root")
NEW_ROOT = make_ca("New Root")
INTERMEDIATE = make_ca("Intermediate", issuer=OLD_ROOT)


def consul_roots(*pems: str) -> dict[str, object]:
    return {"TrustDomain": "x.consul", "Roots": [{"RootCert": p, "IntermediateCerts": None} for p in pems]}


def test_during_a_rotation_overlap_both_roots_and_the_issuing_chain_are_trusted() -> None:
    chain = parse_chain(INTERMEDIATE.cert_pem + OLD_ROOT.cert_pem)
    roots = roots_from_consul(consul_roots(NEW_ROOT.cert_pem, OLD_ROOT.cert_pem))
    bundle = merge(chain, roots)
    assert [c.subject for c in bundle] == ["Intermediate", "Old Root", "New Root"]
    assert [c.self_signed for c in bundle] == [False, True, True]


def test_once_consul_drops_the_old_root_only_vaults_chain_can_bring_it_back() -> None:
    chain = parse_chain(make_ca("Cross", issuer=NEW_ROOT).cert_pem + NEW_ROOT.cert_pem)
    bundle = merge(chain, roots_from_consul(consul_roots(NEW_ROOT.cert_pem)))
    assert "Old Root" not in [c.subject for c in bundle]


def test_a_leaf_is_never_accepted_as_a_trust_anchor() -> None:
    leaf = make_leaf(OLD_ROOT, [spiffe("web")])
    with pytest.raises(BundleError, match="not a CA"):
        roots_from_consul(consul_roots(leaf.cert_pem))
    with pytest.raises(BundleError, match="not a CA"):
        parse_chain(INTERMEDIATE.cert_pem + leaf.cert_pem)


@pytest.mark.parametrize("answer", [None, {}, {"Roots": None}, {"Roots": []}, {"Roots": [{"RootCert": "junk"}]}])
def test_an_unusable_consul_answer_is_refused(answer: object) -> None:
    with pytest.raises(BundleError):
        roots_from_consul(answer)


def test_an_empty_vault_chain_is_refused() -> None:
    with pytest.raises(BundleError, match="empty"):
        parse_chain("")


def test_a_leaf_presenting_the_replaced_intermediate_is_recognised_as_stale() -> None:
    chain_now = parse_chain(INTERMEDIATE.cert_pem + OLD_ROOT.cert_pem)
    other = make_ca("Intermediate", issuer=NEW_ROOT)
    assert same_issuer(INTERMEDIATE.cert_pem + OLD_ROOT.cert_pem, chain_now)
    assert not same_issuer(other.cert_pem + NEW_ROOT.cert_pem, chain_now)
    assert not same_issuer("", chain_now)


def test_status_describes_a_ca_without_its_pem() -> None:
    described = parse_ca(OLD_ROOT.cert_pem).describe()
    assert described["subject"] == "Old Root"
    assert described["root"] is True
    assert len(described["sha256"]) == 64
    assert "pem" not in described
