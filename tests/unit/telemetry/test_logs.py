"""Secrets never reach a log line: by key name anywhere in an event, by shape inside any text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import structlog

from mesh.telemetry.logs import REDACTED, redact_text
from tests.unit.telemetry.capture import logging_to

VAULT_TOKEN = "hvs.CAESIJ0s9ZxJ1fake-token_value0123456789"
PRIVATE_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeKeyMaterial\n-----END EC PRIVATE KEY-----"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBfakeCert\n-----END CERTIFICATE-----"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    with logging_to(out):
        yield out


def logged(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


SECRET_KEYS = ["token", "consul_token", "secret_id", "Password", "private_key", "key_pem", "authorization"]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_value_under_a_secret_key_is_redacted_whatever_it_looks_like(lines: io.StringIO, key: str) -> None:
    structlog.get_logger("mesh.test").info("login", **{key: "plain words"})
    (line,) = logged(lines)
    assert line[key] == REDACTED
    assert line["event"] == "login"


def test_secret_shapes_inside_free_text_are_redacted_in_any_field(lines: io.StringIO) -> None:
    structlog.get_logger("mesh.test").warning(
        f"renewal failed for {VAULT_TOKEN}", error=f"vault said: permission denied ({VAULT_TOKEN})", pem=PRIVATE_KEY
    )
    (line,) = logged(lines)
    assert line["event"] == f"renewal failed for {REDACTED}"
    assert line["error"] == f"vault said: permission denied ({REDACTED})"
    assert line["pem"] == REDACTED
    assert VAULT_TOKEN not in lines.getvalue()
    assert "FakeKeyMaterial" not in lines.getvalue()


def test_what_only_resembles_a_secret_is_kept() -> None:
    text = f"hvac client; hvs.short; public chain:\n{CERTIFICATE}"
    assert redact_text(text) == text


def test_several_secrets_in_one_text_are_all_redacted() -> None:
    text = f"a {VAULT_TOKEN} b {PRIVATE_KEY} c hvb.{'x' * 24} d"
    assert redact_text(text) == f"a {REDACTED} b {REDACTED} c {REDACTED} d"


def test_library_log_records_are_redacted_too(lines: io.StringIO) -> None:
    logging.getLogger("hvac.adapters").warning("request with X-Vault-Token %s failed", VAULT_TOKEN)
    (line,) = logged(lines)
    assert line["event"] == f"request with X-Vault-Token {REDACTED} failed"
    assert line["logger"] == "hvac.adapters"


def test_lines_from_threads_and_from_libraries_never_interleave(tmp_path: Path) -> None:
    """hvac and urllib3 log from worker threads while the event loop logs: each line stays whole.

    The file is unbuffered, as a pipe to journald nearly is: every write is a system call that
    lets another thread run, so a line written in two parts would be split by another's.
    """
    per_thread = 300

    def mesh_events(n: int) -> None:
        log = structlog.get_logger("mesh.test")
        for i in range(per_thread):
            log.info("request", worker=n, i=i)

    def library_records(n: int) -> None:
        log = logging.getLogger("urllib3.connectionpool")
        for i in range(per_thread):
            log.warning("POST /v1/auth/approle/login %d %d", n, i)

    path = tmp_path / "agent.log"
    with (
        io.TextIOWrapper(io.FileIO(path, "w"), write_through=True) as out,
        logging_to(out),
        ThreadPoolExecutor(6) as pool,
    ):
        for n in range(3):
            pool.submit(mesh_events, n)
            pool.submit(library_records, n)
    text = path.read_text()
    assert len([json.loads(line) for line in text.splitlines()]) == 6 * per_thread
