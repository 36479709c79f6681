"""`meshctl config get|put|validate|diff|delete|list` against a real Consul stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support.ports import free_port
from tests.unit.cli.conftest import ConsulStandIn, meshctl
from tests.unit.cli.documents import INVALID_SPLITTER_YAML, RESOLVER_WITHOUT_V2_YAML, RESOLVER_YAML, SPLITTER_JSON

RESOLVER_KEY = "mesh/config/service-resolver/api"
SPLITTER_KEY = "mesh/config/service-splitter/api"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def kv(consul: ConsulStandIn, key: str) -> bytes | None:
    _, entry = consul.client.kv.get(key)
    return None if entry is None else entry["Value"]


def test_put_refuses_an_invalid_document_with_every_problem_and_writes_nothing(
    consul_standin: ConsulStandIn, tmp_path: Path
) -> None:
    bad = write(tmp_path, "splitter.yaml", INVALID_SPLITTER_YAML)
    run = consul_standin.meshctl("config", "put", "service-splitter", "api", bad)
    assert run.code == 1
    assert "Splits[1].Wieght: unknown key" in run.err
    assert "Splits[1].Weight: is required" in run.err
    assert kv(consul_standin, SPLITTER_KEY) is None


def test_put_refuses_an_invalid_document_and_keeps_the_version_in_kv(
    consul_standin: ConsulStandIn, tmp_path: Path
) -> None:
    consul_standin.client.kv.put(SPLITTER_KEY, SPLITTER_JSON)
    assert (
        consul_standin.meshctl(
            "config", "put", "service-splitter", "api", write(tmp_path, "s.yaml", INVALID_SPLITTER_YAML)
        ).code
        == 1
    )
    assert kv(consul_standin, SPLITTER_KEY) == SPLITTER_JSON.encode()


def test_a_valid_put_is_written_and_get_returns_it(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    run = consul_standin.meshctl("config", "put", "service-resolver", "api", write(tmp_path, "r.yaml", RESOLVER_YAML))
    assert (run.code, run.out) == (0, f"created {RESOLVER_KEY}\n")
    got = consul_standin.meshctl("config", "get", "service-resolver", "api", "-o", "json")
    assert got.code == 0
    assert json.loads(got.out) == yaml.safe_load(RESOLVER_YAML)
    as_yaml = consul_standin.meshctl("-o", "yaml", "config", "get", "service-resolver", "api")
    assert yaml.safe_load(as_yaml.out) == yaml.safe_load(RESOLVER_YAML)


def test_put_stores_json_even_from_a_yaml_file(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    consul_standin.meshctl("config", "put", "service-resolver", "api", write(tmp_path, "r.yaml", RESOLVER_YAML))
    assert json.loads(kv(consul_standin, RESOLVER_KEY) or b"") == yaml.safe_load(RESOLVER_YAML)


def test_put_refuses_a_document_that_would_break_another_one(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    consul_standin.meshctl("config", "put", "service-resolver", "api", write(tmp_path, "r.yaml", RESOLVER_YAML))
    consul_standin.meshctl("config", "put", "service-splitter", "api", write(tmp_path, "s.json", SPLITTER_JSON))
    before = kv(consul_standin, RESOLVER_KEY)
    run = consul_standin.meshctl(
        "config", "put", "service-resolver", "api", write(tmp_path, "r2.yaml", RESOLVER_WITHOUT_V2_YAML)
    )
    assert run.code == 1
    assert "service-splitter/api: Splits[1].ServiceSubset: service 'api' has no subset 'v2'" in run.err
    assert kv(consul_standin, RESOLVER_KEY) == before


def test_get_of_a_missing_document_is_exit_1_with_the_key(consul_standin: ConsulStandIn) -> None:
    run = consul_standin.meshctl("config", "get", "service-router", "api")
    assert run.code == 1
    assert f"no document at mesh/config/service-router/api in Consul KV at {consul_standin.url}" in run.err


def test_get_shows_a_document_the_agents_reject_and_says_so(consul_standin: ConsulStandIn) -> None:
    consul_standin.client.kv.put(SPLITTER_KEY, INVALID_SPLITTER_YAML)
    run = consul_standin.meshctl("config", "get", "service-splitter", "api")
    assert run.code == 0
    assert json.loads(run.out) == yaml.safe_load(INVALID_SPLITTER_YAML)
    assert "the agents reject this document" in run.err


def test_diff_is_empty_for_the_same_document_written_differently(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    consul_standin.client.kv.put(SPLITTER_KEY, SPLITTER_JSON)
    same_in_yaml = yaml.safe_dump({k: v for k, v in json.loads(SPLITTER_JSON).items() if k != "Kind"})
    run = consul_standin.meshctl("config", "diff", "service-splitter", "api", write(tmp_path, "s.yaml", same_in_yaml))
    assert (run.code, run.out) == (0, "")


def test_diff_shows_what_would_change_and_exits_1(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    consul_standin.client.kv.put(SPLITTER_KEY, SPLITTER_JSON)
    changed = SPLITTER_JSON.replace('"Weight": 90', '"Weight": 50').replace('"Weight": 10', '"Weight": 50')
    path = write(tmp_path, "s.json", changed)
    run = consul_standin.meshctl("config", "diff", "service-splitter", "api", path)
    assert run.code == 1
    assert f"--- {SPLITTER_KEY} (Consul)\n+++ {path}\n" in run.out
    assert '-      "Weight": 90\n+      "Weight": 50\n' in run.out


def test_diff_against_a_missing_document_shows_it_all_as_new(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    run = consul_standin.meshctl("config", "diff", "service-splitter", "api", write(tmp_path, "s.json", SPLITTER_JSON))
    assert run.code == 1
    assert run.out.startswith("--- /dev/null\n")


def test_delete_refuses_while_another_document_depends_on_it_then_deletes(
    consul_standin: ConsulStandIn, tmp_path: Path
) -> None:
    consul_standin.meshctl("config", "put", "service-resolver", "api", write(tmp_path, "r.yaml", RESOLVER_YAML))
    consul_standin.meshctl("config", "put", "service-splitter", "api", write(tmp_path, "s.json", SPLITTER_JSON))
    refused = consul_standin.meshctl("config", "delete", "service-resolver", "api")
    assert refused.code == 1
    assert kv(consul_standin, RESOLVER_KEY) is not None
    assert consul_standin.meshctl("config", "delete", "service-splitter", "api").code == 0
    assert consul_standin.meshctl("config", "delete", "service-resolver", "api").code == 0
    assert kv(consul_standin, RESOLVER_KEY) is None


def test_delete_of_a_missing_document_is_exit_1(consul_standin: ConsulStandIn) -> None:
    assert consul_standin.meshctl("config", "delete", "service-router", "api").code == 1


def test_list_shows_each_document_and_what_the_agents_would_reject(consul_standin: ConsulStandIn) -> None:
    consul_standin.client.kv.put(RESOLVER_KEY, RESOLVER_WITHOUT_V2_YAML)
    consul_standin.client.kv.put(SPLITTER_KEY, SPLITTER_JSON)
    consul_standin.client.kv.put("mesh/config/service-routr/api", "{}")
    consul_standin.client.kv.put("mesh/config/", "")  # a folder, as the UI makes
    run = consul_standin.meshctl("config", "list", "-o", "json")
    assert run.code == 0
    rows = {r["key"]: r for r in json.loads(run.out)}
    assert set(rows) == {RESOLVER_KEY, SPLITTER_KEY, "mesh/config/service-routr/api"}
    assert rows[RESOLVER_KEY]["problems"] == []
    assert rows[SPLITTER_KEY]["problems"] == [
        "Splits[1].ServiceSubset: service 'api' has no subset 'v2': service-resolver/api does not define it"
    ]
    assert "did you mean 'service-router'?" in rows["mesh/config/service-routr/api"]["problems"][0]
    table = consul_standin.meshctl("config", "list").out.splitlines()
    assert table[0].split() == ["KEY", "MODIFY", "INDEX", "PROBLEMS"]
    assert table[1].split() == [RESOLVER_KEY, str(rows[RESOLVER_KEY]["modify_index"]), "ok"]


def test_validate_needs_no_consul(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    good = meshctl(
        "--consul-addr",
        nobody,
        "config",
        "validate",
        "service-splitter",
        "api",
        write(tmp_path, "s.json", SPLITTER_JSON),
    )
    assert (good.code, good.out) == (0, f"ok: {tmp_path / 's.json'} (service-splitter/api) is valid\n")
    bad = meshctl(
        "config", "validate", "service-splitter", "api", write(tmp_path, "b.yaml", INVALID_SPLITTER_YAML), "-o", "json"
    )
    assert bad.code == 1
    report = json.loads(bad.out)
    assert report["valid"] is False
    assert report["problems"] == [
        {"path": "Splits[1].Wieght", "message": "unknown key (did you mean 'Weight'?)"},
        {"path": "Splits[1].Weight", "message": "is required"},
    ]


def test_validate_checks_kind_and_name_against_the_key(tmp_path: Path) -> None:
    run = meshctl("config", "validate", "service-resolver", "api", write(tmp_path, "s.json", SPLITTER_JSON))
    assert run.code == 1
    assert "Kind: is 'service-splitter' but the key says 'service-resolver'" in run.err


def test_put_when_consul_is_down_is_exit_2(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    run = meshctl(
        "--consul-addr", nobody, "config", "put", "service-splitter", "api", write(tmp_path, "s.json", SPLITTER_JSON)
    )
    assert run.code == 2
    assert f"cannot reach Consul at {nobody}" in run.err


def test_a_misspelt_kind_is_refused_with_a_suggestion(consul_standin: ConsulStandIn) -> None:
    run = consul_standin.meshctl("config", "get", "service-routr", "api")
    assert run.code == 1
    assert "did you mean 'service-router'?" in run.err


def test_problems_already_in_kv_do_not_block_an_unrelated_put(consul_standin: ConsulStandIn, tmp_path: Path) -> None:
    consul_standin.client.kv.put(RESOLVER_KEY, RESOLVER_WITHOUT_V2_YAML)
    consul_standin.client.kv.put(SPLITTER_KEY, SPLITTER_JSON)  # already refers to a missing subset
    consul_standin.client.kv.put("mesh/config/service-router/web", "Routes: [")  # not even YAML
    defaults = write(tmp_path, "d.yaml", "Protocol: http\n")
    run = consul_standin.meshctl("config", "put", "service-defaults", "billing", defaults)
    assert run.code == 0
    assert "1 document(s) in KV are rejected by the agents and were left out of the cross-document checks" in run.err
    assert "mesh/config/service-router/web" in run.err
