"""Structured logs: one JSON object per line on stdout, with a level and the service names,
library lines included, and never a secret."""

from __future__ import annotations

import json
import signal

import pytest

from tests.e2e.conftest import Mesh

pytestmark = pytest.mark.e2e

LEVELS = {"debug", "info", "warning", "error", "critical"}


def test_every_line_of_a_whole_lifecycle_is_a_json_object_without_secrets(mesh: Mesh) -> None:
    host = mesh.host()
    api = mesh.app("api", host)
    agent = mesh.agent("host-l", host, [{"name": "api", "port": api, "address": host}])  # log_level: debug
    agent.process.send(signal.SIGHUP)
    assert agent.process.stop() == 0

    lines = agent.process.logs().splitlines()
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and e.get("level") in LEVELS and "event" in e for e in events)
    assert any(e.get("logger", "").startswith("urllib3") for e in events)  # library lines are JSON too
    ready = next(e for e in events if e["event"] == "agent ready")
    assert ready["services"] == ["api"]

    text = "\n".join(lines)
    info = mesh.stack.info
    for secret in (info["approle_secret_id"], info["vault_token"]):
        assert secret not in text
    assert "PRIVATE KEY" not in text
