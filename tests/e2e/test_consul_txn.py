"""Traffic documents written together through Consul's /v1/txn reach the agent together: one KV
write at one index, so the agent's watch sees both documents in the same answer, and a transaction
that fails writes neither."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Mesh
from tests.support.processes import Agent, wait_until

pytestmark = pytest.mark.e2e

KEYS = ("mesh/config/service-defaults/api", "mesh/config/service-defaults/web")


def _set(key: str, body: str, **extra: Any) -> dict[str, Any]:
    return {"KV": {"Verb": extra.pop("verb", "set"), "Key": key, "Value": base64.b64encode(body.encode()).decode(),
                   **extra}}  # fmt: skip


def applied(agent: Agent) -> dict[str, int]:
    """key -> the ModifyIndex the agent logged applying it."""
    return {
        ev["key"]: ev["modify_index"]
        for ev in agent.process.log_events()
        if ev.get("event") == "traffic document applied" and ev.get("key") in KEYS
    }


def test_documents_of_one_transaction_are_applied_at_one_index(mesh: Mesh) -> None:
    web, _ = mesh.web_calling_api("web-txn", mesh.host())
    url = f"{mesh.stack.info['consul']}/v1/txn"
    ops = [_set(key, '{"Protocol": "http"}') for key in KEYS]
    resp = requests.put(url, data=json.dumps(ops), timeout=10)
    assert resp.status_code == 200, resp.text
    index = resp.json()["Results"][0]["KV"]["ModifyIndex"]
    found = wait_until(lambda: applied(web) if len(applied(web)) == 2 else None, 30, what="both documents applied")
    assert found == dict.fromkeys(KEYS, index)

    # A transaction with a stale CAS writes nothing: the agent keeps what it has.
    stale = [_set(KEYS[0], '{"Protocol": "tcp"}'), _set(KEYS[1], '{"Protocol": "tcp"}', verb="cas", Index=1)]
    refused = requests.put(url, data=json.dumps(stale), timeout=10)
    assert refused.status_code == 409
    assert refused.json()["Errors"][0]["OpIndex"] == 1
    _, entry = mesh.stack.consul().kv.get(KEYS[0])
    assert json.loads(entry["Value"]) == {"Protocol": "http"}
    assert applied(web) == dict.fromkeys(KEYS, index)
