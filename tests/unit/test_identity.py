import pytest

from mesh.identity import ServiceIdentity, is_valid_service_name, is_valid_trust_domain, parse_sni, sni_for

TD = "11111111-2222-3333-4444-555555555555.consul"


def test_spiffe_id_uses_consuls_service_format() -> None:
    ident = ServiceIdentity(trust_domain=TD, datacenter="dc1", service="api")
    assert ident.spiffe_id == f"spiffe://{TD}/ns/default/dc/dc1/svc/api"
    assert ServiceIdentity.parse(ident.spiffe_id) == ident


def test_sni_uses_consuls_internal_format_and_parses_back() -> None:
    assert sni_for("api", "dc1", TD) == f"api.default.dc1.internal.{TD}"
    target = parse_sni(f"v2.api.default.dc1.internal.{TD}", TD)
    assert target is not None
    assert (target.subset, target.service, target.datacenter) == ("v2", "api", "dc1")


def test_sni_of_another_trust_domain_is_not_ours() -> None:
    assert parse_sni("api.default.dc1.internal.other.consul", TD) is None


@pytest.mark.parametrize(
    "uri",
    [
        "spiffe://td/ns/default/dc/dc1/svc/",
        "https://td/ns/default/dc/dc1/svc/api",
        f"spiffe://{TD}/ns/default/dc/dc1/svc/api/extra",
        f"spiffe://{TD}/agent/client/dc/dc1/id/x",
    ],
)
def test_non_service_spiffe_ids_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="SPIFFE"):
        ServiceIdentity.parse(uri)


@pytest.mark.parametrize(
    "uri",
    [
        f"spiffe://{TD}/ns/default/dc/dc1/svc/web\n",
        f"spiffe://{TD}\n/ns/default/dc/dc1/svc/web",
        f"spiffe://{TD}/ns/default/dc/dc1/svc/web/",
    ],
)
def test_a_spiffe_id_must_match_whole_with_nothing_after_the_service(uri: str) -> None:
    with pytest.raises(ValueError, match="SPIFFE"):
        ServiceIdentity.parse(uri)


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " "])
def test_a_name_with_a_trailing_newline_or_space_is_not_a_valid_name(suffix: str) -> None:
    assert not is_valid_service_name(f"web{suffix}")
    assert not is_valid_trust_domain(f"td.consul{suffix}")


def test_the_namespace_is_read_as_written_so_the_peer_check_can_refuse_it() -> None:
    ident = ServiceIdentity.parse(f"spiffe://{TD}/ns/other/dc/dc1/svc/web")
    assert ident.namespace == "other"
    assert ident != ServiceIdentity(TD, "dc1", "web")
