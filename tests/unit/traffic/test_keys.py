import pytest

from mesh.errors import InvalidDocument
from mesh.traffic import DocumentId, parse_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mesh/config/service-router/api", DocumentId("service-router", "api")),
        ("mesh/config/service-defaults/web-v2", DocumentId("service-defaults", "web-v2")),
        ("/mesh/config/service-resolver/db", DocumentId("service-resolver", "db")),
    ],
)
def test_a_document_key_names_its_kind_and_service(key: str, expected: DocumentId) -> None:
    assert parse_key("mesh/config", key) == expected


def test_the_id_unpacks_as_kind_and_service_and_rebuilds_the_key() -> None:
    kind, service = doc_id = DocumentId("service-splitter", "api")
    assert (kind, service) == ("service-splitter", "api")
    assert doc_id.key("mesh/config/") == "mesh/config/service-splitter/api"
    assert str(doc_id) == "service-splitter/api"


@pytest.mark.parametrize(
    "key",
    ["other/service-router/api", "mesh/config", "mesh/config/", "mesh/config/service-router/", "mesh/configx/a/b"],
)
def test_keys_outside_the_prefix_and_folders_hold_no_document(key: str) -> None:
    assert parse_key("mesh/config", key) is None


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("mesh/config/service-routr/api", "did you mean 'service-router'?"),
        ("mesh/config/service-intentions/api", "intentions are Consul's own config entries"),
        ("mesh/config/service-router/api/extra", "expected mesh/config/<kind>/<service>"),
        ("mesh/config/README", "expected mesh/config/<kind>/<service>"),
        ("mesh/config/service-router/Api_1", "is not a service name"),
    ],
)
def test_a_malformed_key_under_the_prefix_is_reported_not_ignored(key: str, fragment: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse_key("mesh/config", key)
    assert caught.value.source == key
    assert fragment in caught.value.problems[0].message
