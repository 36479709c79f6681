"""Structured logs: one JSON object per line on stdout, journald-friendly, secrets redacted.

Events go through structlog's processor chain (context variables, level, logger name, an ISO
UTC timestamp, exception text, redaction, JSON), written a line at a time by
mesh.telemetry.lines. The access log, a line or two per request, does not: `EventLog`
renders the same line with orjson straight from a dict of fields (a seventh of the cost)
and hands it to the process's line buffer, which writes a loop turn's lines at once.

An EventLog line has the keys, order and values structlog gives `log.info(event, **fields)`
here: the fields, then `event`, `level`, `logger` and `ts` (the same format as
TimeStamper(fmt="iso", utc=True)). What differs is only the bytes between them: no spaces
after separators. It is ASCII, as json.dumps makes it (a line with other characters is
rendered by json.dumps, escaped). It carries no context variables: the mesh binds none, and
an access line's record is its whole context. Redaction is the same `_redact`, run only when
the rendered line could need it: every secret shape contains a literal (`_SECRET_TEXT`)
that contains nothing JSON escapes, so a line without those literals has no secret inside
any value; and the keys are checked against those already found not to be secret names.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from mesh.telemetry.lines import BUFFERED, write_line

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
    EventLog.level = numeric
    BUFFERED.retarget(out)
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


_PLAIN_KEYS: set[str] = set()  # field names found not to be secret names (names in our code)
_MAX_PLAIN_KEYS = 1024
_SECRET_LITERALS = tuple(literal.encode() for literal, _ in _SECRET_TEXT)


class EventLog:
    """A logger for the hot path (see the module docstring): lines rendered with orjson, buffered.

    It logs at info, when the level configure_logging set allows. Until configure_logging has
    run (unit tests, a library use of the mesh), there is no line stream of ours to write to,
    and an EventLog logs through structlog, whatever structlog is configured to do
    (structlog.testing.capture_logs sees its events).
    """

    level: int | None = None  # configure_logging's
    __slots__ = ("_chain", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._chain = structlog.get_logger(name)

    def info(self, event: str, fields: dict[str, object]) -> None:
        """Log `event` with `fields` (which the line takes over: it is filled in and kept).

        Values are JSON's types (str, int, float, bool, None, lists and dicts of them), as the
        access log's are: structlog would render anything else by its repr, orjson otherwise.
        """
        level = EventLog.level
        if level is None:
            self._chain.info(event, **fields)
        elif level <= logging.INFO:
            BUFFERED.add(render_event(fields, event, "info", self.name))


def render_event(fields: dict[str, object], event: str, level: str, logger: str) -> str:
    """The JSON line structlog's chain renders for `fields` logged as `event` (fields is filled in)."""
    fields["event"] = event
    fields["level"] = level
    fields["logger"] = logger
    fields["ts"] = dt.datetime.now(dt.UTC)
    try:
        data = orjson.dumps(fields, default=repr, option=orjson.OPT_UTC_Z)
    except TypeError:  # orjson.JSONEncodeError: a string that is not UTF-8, an int over 64 bits
        return _rendered_slowly(fields)
    if not data.isascii() or not _PLAIN_KEYS.issuperset(fields):
        return _rendered_slowly(fields)
    for literal in _SECRET_LITERALS:
        if literal in data:
            return _rendered_slowly(fields)
    return data.decode()


def _rendered_slowly(fields: dict[str, object]) -> str:
    """Redacted as structlog's chain does, and json.dumps'd (ASCII) without its spaces."""
    when = fields["ts"]
    if isinstance(when, dt.datetime):
        fields["ts"] = when.isoformat().replace("+00:00", "Z")  # TimeStamper's format
    _redact(None, "", fields)
    if len(_PLAIN_KEYS) < _MAX_PLAIN_KEYS:
        _PLAIN_KEYS.update(key for key in fields if not _secret_key(key))
    return json.dumps(fields, separators=(",", ":"), default=repr)


def _iso_utc(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat().replace("+00:00", "Z")


class _StdlibJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = redact_text(record.getMessage())
        return json.dumps(
            {"event": msg, "level": record.levelname.lower(), "logger": record.name, "ts": _iso_utc(record.created)}
        )
