"""Structured logs: one JSON object per line on stdout, journald-friendly, secrets redacted."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import threading
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
    handler = _StdlibLines(out)
    handler.setFormatter(_StdlibJson())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library chatter stays at warning unless the agent is asked for debug.
    root.setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


# One lock for every line written, from structlog (the event loop) and from the stdlib handler
# (hvac, urllib3 and aiohttp, some in worker threads), so that lines never interleave.
_LINES = threading.Lock()


def write_line(out: TextIO, line: str) -> None:
    """Write `line` and its newline in one call, flushed, under the process-wide lines lock.

    print() writes the text and the newline separately: a line from another thread landing
    between them glues two JSON objects together, and journald or a log shipper loses both.
    """
    with _LINES:
        out.write(line + "\n")
        out.flush()


class _JsonLineLogger:
    """structlog's final logger: one rendered event per line on `out`, named for `add_logger_name`."""

    __slots__ = ("_out", "name")

    def __init__(self, out: TextIO, name: str) -> None:
        self._out = out
        self.name = name

    def msg(self, message: str) -> None:
        write_line(self._out, message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _NamedLoggerFactory:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, *args: Any) -> _JsonLineLogger:
        return _JsonLineLogger(self._out, str(args[0]) if args else "mesh")


class _StdlibLines(logging.Handler):
    """The stdlib root logger's handler: formatted records through `write_line`."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_line(self._out, self.format(record))
        except Exception:  # logging.Handler's contract: report, never raise
            self.handleError(record)


def _iso_utc(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat().replace("+00:00", "Z")


class _StdlibJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = redact_text(record.getMessage())
        return json.dumps(
            {"event": msg, "level": record.levelname.lower(), "logger": record.name, "ts": _iso_utc(record.created)}
        )
