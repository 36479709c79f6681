"""/v1/txn with the KV verbs: all or none, Consul's result and error shapes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from consul.exceptions import ClientError

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]


def kv(verb: str, key: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"Verb": verb, "Key": key, **extra}
    if value is not None:
        op["Value"] = base64.b64encode(value.encode()).decode()
    return {"KV": op}


def _txn(consul: ConsulUnderTest, ops: list[dict[str, Any]], token: str | None = None) -> requests.Response:
    headers = {"X-Consul-Token": token} if token else {}
    return requests.put(f"{consul.url}/v1/txn", data=json.dumps(ops), headers=headers, timeout=10)


def test_sets_are_applied_together_at_one_index(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn")
    c = consul.client()
    answer = c.txn.put([kv("set", f"{top}/a", "1"), kv("set", f"{top}/b", "2", Flags=7)])
    assert answer["Errors"] is None
    results = [r["KV"] for r in answer["Results"]]
    assert [(r["Key"], r["Value"], r["Flags"]) for r in results] == [(f"{top}/a", None, 0), (f"{top}/b", None, 7)]
    assert results[0]["ModifyIndex"] == results[1]["ModifyIndex"]
    assert c.kv.get(f"{top}/b")[1]["Value"] == b"2"


def test_reads_return_values_and_checks_pass_or_fail(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-read")
    c = consul.client()
    c.kv.put(f"{top}/a", "1")
    c.kv.put(f"{top}/b", "2")
    index = c.kv.get(f"{top}/a")[1]["ModifyIndex"]
    answer = c.txn.put([kv("get", f"{top}/a"), kv("get-tree", f"{top}/"), kv("check-index", f"{top}/a", Index=index),
                        kv("check-not-exists", f"{top}/zzz"), kv("get-or-empty", f"{top}/none")])  # fmt: skip
    results = [r["KV"] for r in answer["Results"]]
    assert [base64.b64decode(r["Value"]) for r in results[:3]] == [b"1", b"1", b"2"]
    assert results[3]["Key"] == f"{top}/a"
    assert results[3]["Value"] is None
    assert (results[4]["Key"], results[4]["Value"]) == (f"{top}/none", None)
    assert len(results) == 5


def test_a_failed_cas_applies_nothing(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-cas")
    c = consul.client()
    c.kv.put(f"{top}/a", "old")
    stale = c.kv.get(f"{top}/a")[1]["ModifyIndex"] - 1
    resp = _txn(consul, [kv("set", f"{top}/new", "x"), kv("cas", f"{top}/a", "v", Index=stale),
                         kv("delete", f"{top}/a")])  # fmt: skip
    assert resp.status_code == 409
    body = resp.json()
    assert body["Results"] is None
    assert body["Errors"] == [{"OpIndex": 1, "What": f'failed to set key "{top}/a", index is stale'}]
    assert c.kv.get(f"{top}/new")[1] is None
    assert c.kv.get(f"{top}/a")[1]["Value"] == b"old"
    with pytest.raises(ClientError, match="409"):
        c.txn.put([kv("cas", f"{top}/a", "v", Index=stale)])


def test_failed_checks_and_gets_are_errors_with_their_position(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    top = unique("txn-check")
    c = consul.client()
    c.kv.put(f"{top}/a", "1")
    index = c.kv.get(f"{top}/a")[1]["ModifyIndex"]
    resp = _txn(consul, [kv("get", f"{top}/missing"), kv("check-index", f"{top}/a", Index=index + 100),
                         kv("check-not-exists", f"{top}/a")])  # fmt: skip
    assert resp.status_code == 409
    assert resp.json()["Errors"] == [
        {"OpIndex": 0, "What": f'key "{top}/missing" doesn\'t exist'},
        {"OpIndex": 1, "What": f"current modify index {index} != {index + 100}"},
        {"OpIndex": 2, "What": f'key "{top}/a" exists'},
    ]


def test_deletes_and_delete_tree(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-del")
    c = consul.client()
    for key in ("a", "t/1", "t/2", "keep"):
        c.kv.put(f"{top}/{key}", "v")
    answer = c.txn.put([kv("delete", f"{top}/a"), kv("delete-tree", f"{top}/t/"), kv("get-tree", f"{top}/")])
    assert [r["KV"]["Key"] for r in answer["Results"]] == [f"{top}/keep"]
    assert [e["Key"] for e in c.kv.get(f"{top}/", recurse=True)[1]] == [f"{top}/keep"]


def test_too_many_operations_is_413(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-big")
    resp = _txn(consul, [kv("set", f"{top}/{i}", "v") for i in range(65)])
    assert resp.status_code == 413
    assert resp.text == "Transaction contains too many operations (65 > 64)"


async def test_the_aio_client_runs_a_transaction(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-aio")
    client = consul.aio_client()
    try:
        answer = await client.txn.put([kv("set", f"{top}/a", "1"), kv("get", f"{top}/a")])
        assert base64.b64decode(answer["Results"][1]["KV"]["Value"]) == b"1"
    finally:
        await client.close()


def test_each_operation_needs_its_keys_permission(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("txn-acl")
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    policy = admin.acl.policy.create(unique("txn"), rules={"key_prefix": {f"{top}/mine/": {"policy": "write"}}})
    token = admin.acl.token.create(policies_id=[policy["ID"]])
    resp = _txn(consul_acls, [kv("set", f"{top}/mine/a", "1"), kv("set", f"{top}/other", "2")], token["SecretID"])
    assert resp.status_code == 409
    [error] = resp.json()["Errors"]
    assert error["OpIndex"] == 1
    assert f"lacks permission 'key:write' on \"{top}/other\"" in error["What"]
    assert admin.kv.get(f"{top}/mine/a")[1] is None
