"""Structured logs: one JSON object per line on stdout, journald-friendly, secrets redacted."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Keys whose values are secrets wherever they appear in an event.
_SECRET_KEYS = re.compile(r"(token|secret|password|private_key|key_pem|authorization)", re.IGNORECASE)
# Secret-looking material inside free text: Vault tokens, PEM private keys. Each with a literal
# that every match contains: a substring test (one C scan) spares the regex on most values,
# which matters on the access log's hot path.
_SECRET_TEXT = (
    ("hv", re.compile(r"\bhv[sbr]\.[A-Za-z0-9_\-]{20,}")),
    ("-----BEGIN ", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)),
)
REDACTED = "<redacted>"


def redact_text(text: str) -> str:
    for literal, pattern in _SECRET_TEXT:
        if literal in text:
            text = pattern.sub(REDACTED, text)
    return text


@functools.lru_cache(maxsize=1024)  # keys are names in our code: a small set, asked about per event
def _secret_key(key: str) -> bool:
    return key != "event" and _SECRET_KEYS.search(key) is not None


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if _secret_key(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger (libraries) to write JSON lines."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    out = stream or sys.stdout
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_NamedLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_StdlibJson())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library chatter stays at warning unless the agent is asked for debug.
    root.setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that remembers the name it was created for (`get_logger("mesh.certs")`)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedLoggerFactory:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, *args: Any) -> _NamedPrintLogger:
        return _NamedPrintLogger(self._out, str(args[0]) if args else "mesh")


def _iso_utc(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat().replace("+00:00", "Z")


class _StdlibJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = redact_text(record.getMessage())
        return json.dumps(
            {"event": msg, "level": record.levelname.lower(), "logger": record.name, "ts": _iso_utc(record.created)}
        )
