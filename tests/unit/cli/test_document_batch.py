"""Several documents written in one Consul transaction against a real stand-in: all of them at one
index, or none.

The concurrent edit lands through `before_write`, the seam between meshctl's read and its write,
so the race is exact rather than timed.
"""

from __future__ import annotations

from pathlib import Path

import consul
import pytest

from mesh.cli.consul_api import ConsulApi, ConsulTarget
from mesh.cli.document_store import Candidate, DocumentStore, TxnConflict
from mesh.cli.errors import Refused
from mesh.devstack.consul import ConsulServer
from mesh.devstack.threaded import StandInThread
from mesh.errors import InvalidDocument
from mesh.traffic import SERVICE_DEFAULTS, SERVICE_RESOLVER, SERVICE_SPLITTER, DocumentId
from tests.support.ports import free_port
from tests.unit.cli.conftest import TRUST_DOMAIN, ConsulStandIn, meshctl
from tests.unit.cli.documents import INVALID_SPLITTER_YAML, RESOLVER_WITHOUT_V2_YAML, RESOLVER_YAML, SPLITTER_JSON

PREFIX = "mesh/config"
RESOLVER = DocumentId(SERVICE_RESOLVER, "api")
SPLITTER = DocumentId(SERVICE_SPLITTER, "api")
UI_EDIT = b'{"DefaultSubset": "v2", "Subsets": {"v2": {"Filter": "Service.Meta.version == v2"}}}'


def entry(consul: ConsulStandIn, doc: DocumentId) -> dict[str, object] | None:
    _, found = consul.client.kv.get(doc.key(PREFIX))
    return found


def canary() -> list[Candidate]:
    """A splitter that needs the resolver's v2 subset, with that resolver: valid only together."""
    return [
        Candidate(RESOLVER, RESOLVER_YAML.encode(), "resolver.yaml"),
        Candidate(SPLITTER, SPLITTER_JSON.encode(), "splitter.json"),
    ]


def test_documents_valid_only_together_are_written_at_one_index(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    with pytest.raises(Refused, match="cross-document"):
        store.put(SPLITTER, SPLITTER_JSON.encode(), source="splitter.json")
    batch = store.put_many(canary())
    assert [r.outcome for r in batch.results] == ["created", "created"]
    resolver, splitter = entry(consul_standin, RESOLVER), entry(consul_standin, SPLITTER)
    assert resolver is not None
    assert splitter is not None
    assert resolver["ModifyIndex"] == splitter["ModifyIndex"] == batch.index > 0


def test_an_unchanged_document_is_left_out_and_the_rest_is_written(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_YAML.encode(), source="resolver.yaml")
    before = entry(consul_standin, RESOLVER)
    batch = store.put_many(canary())
    assert [r.outcome for r in batch.results] == ["unchanged", "created"]
    assert entry(consul_standin, RESOLVER) == before
    assert store.put_many(canary()).index == 0  # nothing left to write


def test_one_invalid_document_means_none_is_written(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    candidates = [canary()[0], Candidate(SPLITTER, INVALID_SPLITTER_YAML.encode(), "splitter.yaml")]
    with pytest.raises(InvalidDocument) as refused:
        store.put_many(candidates)
    assert refused.value.source == "splitter.yaml"
    assert entry(consul_standin, RESOLVER) is None


def test_a_concurrent_edit_of_one_document_means_none_is_written(consul_standin: ConsulStandIn) -> None:
    store = DocumentStore(consul_standin.api(), PREFIX)
    store.put(RESOLVER, RESOLVER_WITHOUT_V2_YAML.encode(), source="resolver.yaml")

    def someone_edits_in_the_ui() -> None:
        assert consul_standin.client.kv.put(RESOLVER.key(PREFIX), UI_EDIT)

    with pytest.raises(TxnConflict) as refused:
        store.put_many(canary(), before_write=someone_edits_in_the_ui)
    message = str(refused.value)
    assert "none was applied" in message
    assert f"{RESOLVER.key(PREFIX)} from resolver.yaml" in message
    assert "service-splitter" not in message  # only the document that failed is named
    assert entry(consul_standin, SPLITTER) is None
    edited = entry(consul_standin, RESOLVER)
    assert edited is not None
    assert edited["Value"] == UI_EDIT


def test_more_documents_than_consul_takes_in_a_transaction_are_refused_unread() -> None:
    nobody = DocumentStore(ConsulApi(ConsulTarget(f"http://127.0.0.1:{free_port()}")), PREFIX)
    many = [Candidate(DocumentId(SERVICE_DEFAULTS, f"s{i}"), b"Protocol: http\n", f"s{i}.yaml") for i in range(65)]
    with pytest.raises(Refused, match="at most 64 operations in one transaction"):
        nobody.put_many(many)


def test_a_document_named_twice_is_refused(consul_standin: ConsulStandIn) -> None:
    twice = [canary()[0], Candidate(RESOLVER, RESOLVER_WITHOUT_V2_YAML.encode(), "other.yaml")]
    with pytest.raises(Refused, match="given twice"):
        DocumentStore(consul_standin.api(), PREFIX).put_many(twice)
    assert entry(consul_standin, RESOLVER) is None


def test_meshctl_config_put_with_two_files_reports_one_transaction(
    consul_standin: ConsulStandIn, tmp_path: Path
) -> None:
    (tmp_path / "r.yaml").write_text(RESOLVER_YAML)
    (tmp_path / "s.json").write_text(SPLITTER_JSON)
    files = ["service-resolver", "api", str(tmp_path / "r.yaml"), "service-splitter", "api", str(tmp_path / "s.json")]
    run = consul_standin.meshctl("config", "put", *files)
    assert run.code == 0, run.err
    index = entry(consul_standin, RESOLVER)["ModifyIndex"]  # type: ignore[index]
    assert run.out == (
        "created mesh/config/service-resolver/api\ncreated mesh/config/service-splitter/api\n"
        f"2 document(s) written in one transaction at index {index}\n"
    )
    again = consul_standin.meshctl("config", "put", *files, "-o", "json")
    assert again.code == 0, again.err
    assert '"index": null' in again.out
    assert again.out.count('"outcome": "unchanged"') == 2


def test_meshctl_config_put_refuses_an_incomplete_triple(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RESOLVER_YAML)
    run = consul_standin.meshctl("config", "put", "service-resolver", "api", str(tmp_path / "r.yaml"), "x", "y")
    assert run.code != 0
    assert "KIND SERVICE FILE for each document" in run.err
    assert entry(consul_standin, RESOLVER) is None


def test_a_token_that_may_write_only_one_of_the_keys_writes_neither() -> None:
    admin_token = "c0ffee00-0000-4000-8000-00000000000a"
    server = ConsulServer(trust_domain=TRUST_DOMAIN, acl_management_token=admin_token)
    with StandInThread(server, name="cli-consul-acl"):
        admin = consul.Consul(host=server.host, port=server.port, token=admin_token)
        rules = {"key_prefix": {f"{PREFIX}/": {"policy": "read"}, RESOLVER.key(PREFIX): {"policy": "write"}}}
        policy = admin.acl.policy.create("resolver-only", rules=rules)
        token = admin.acl.token.create(policies_id=[policy["ID"]])["SecretID"]
        store = DocumentStore(ConsulApi(ConsulTarget(server.url, token=token)), PREFIX)
        with pytest.raises(TxnConflict) as refused:
            store.put_many(canary())
        message = str(refused.value)
        assert f"{SPLITTER.key(PREFIX)} from splitter.json" in message
        assert "lacks permission 'key:write'" in message
        assert "Check the token" in message
        assert admin.kv.get(RESOLVER.key(PREFIX))[1] is None


def test_meshctl_refuses_more_than_64_documents_before_reading_a_file(tmp_path: Path) -> None:
    triples = [arg for i in range(65) for arg in ("service-defaults", f"s{i}", str(tmp_path / f"missing-{i}.yaml"))]
    run = meshctl("--consul-addr", f"http://127.0.0.1:{free_port()}", "config", "put", *triples)
    assert run.code != 0
    assert "65 documents given; Consul applies at most 64 operations in one transaction" in run.err
    assert "cannot read" not in run.err
