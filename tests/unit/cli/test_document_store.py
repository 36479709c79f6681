"""Writes with check-and-set against a real Consul stand-in: a concurrent edit is never lost.

The concurrent edit lands through `before_write`, the seam between meshctl's read and its
write, so the race is exact rather than timed.
"""

from __future__ import annotations

import pytest

from mesh.cli.consul_api import ConsulApi, ConsulTarget
from mesh.cli.document_store import CasConflict, DocumentStore
from mesh.cli.errors import Refused
from mesh.errors import InvalidDocument
from mesh.traffic import SERVICE_RESOLVER, SERVICE_SPLITTER, DocumentId
from tests.support.ports import free_port
from tests.unit.cli.conftest import ConsulStandIn
from tests.unit.cli.documents import INVALID_SPLITTER_YAML, RESOLVER_WITHOUT_V2_YAML, RESOLVER_YAML, SPLITTER_JSON

PREFIX = "mesh/config"
RESOLVER = DocumentId(SERVICE_RESOLVER, "api")
SPLITTER = DocumentId(SERVICE_SPLITTER, "api")
UI_EDIT = b'{"DefaultSubset": "v2", "Subsets": {"v2": {"Filter": "Service.Meta.version == v2"}}}'


def stored(consul: ConsulStandIn, doc: DocumentId) -> bytes | None:
    _, entry = consul.client.kv.get(doc.key(PREFIX))
    return None if entry is None else entry["Value"]


def test_a_write_over_a_concurrent_edit_is_refused_and_the_edit_survives(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_YAML.encode(), source="resolver.yaml")

    def someone_edits_in_the_ui() -> None:
        assert consul_standin.client.kv.put(RESOLVER.key(PREFIX), UI_EDIT)

    with pytest.raises(CasConflict, match="changed in Consul after meshctl read it"):
        store.put(RESOLVER, RESOLVER_WITHOUT_V2_YAML.encode(), source="f", before_write=someone_edits_in_the_ui)
    assert stored(consul_standin, RESOLVER) == UI_EDIT


def test_creating_a_document_that_someone_else_created_meanwhile_is_refused(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)

    def someone_creates_it() -> None:
        assert consul_standin.client.kv.put(RESOLVER.key(PREFIX), UI_EDIT)

    with pytest.raises(CasConflict, match="absent when read"):
        store.put(RESOLVER, RESOLVER_YAML.encode(), source="f", before_write=someone_creates_it)
    assert stored(consul_standin, RESOLVER) == UI_EDIT


def test_a_delete_over_a_concurrent_edit_is_refused(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_YAML.encode(), source="f")

    def someone_edits() -> None:
        assert consul_standin.client.kv.put(RESOLVER.key(PREFIX), UI_EDIT)

    with pytest.raises(CasConflict):
        store.delete(RESOLVER, before_write=someone_edits)
    assert stored(consul_standin, RESOLVER) == UI_EDIT


def test_without_a_concurrent_edit_the_write_lands(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    assert store.put(RESOLVER, RESOLVER_YAML.encode(), source="f").outcome == "created"
    replaced = store.put(RESOLVER, RESOLVER_WITHOUT_V2_YAML.encode(), source="f")
    assert replaced.outcome == "replaced"
    assert replaced.previous_index > 0
    assert b'"v2"' not in (stored(consul_standin, RESOLVER) or b"")


def test_an_invalid_document_is_refused_before_consul_is_even_asked() -> None:
    nobody = ConsulApi(ConsulTarget(f"http://127.0.0.1:{free_port()}"))
    unreachable = DocumentStore(nobody, PREFIX)
    with pytest.raises(InvalidDocument) as refused:
        unreachable.put(SPLITTER, INVALID_SPLITTER_YAML.encode(), source="splitter.yaml")
    assert {p.path for p in refused.value.problems} >= {"Splits[1].Wieght"}


def test_the_same_document_again_is_not_written(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_YAML.encode(), source="f")
    _, before = consul_standin.client.kv.get(RESOLVER.key(PREFIX))
    assert store.put(RESOLVER, RESOLVER_YAML.encode(), source="f").outcome == "unchanged"
    _, after = consul_standin.client.kv.get(RESOLVER.key(PREFIX))
    assert after["ModifyIndex"] == before["ModifyIndex"]


def test_a_splitter_is_checked_against_the_resolver_in_kv(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_WITHOUT_V2_YAML.encode(), source="f")
    with pytest.raises(Refused, match=r"(?s)would make 1 cross-document problem.*Splits\[1\]\.ServiceSubset"):
        store.put(SPLITTER, SPLITTER_JSON.encode(), source="f")
    assert stored(consul_standin, SPLITTER) is None
