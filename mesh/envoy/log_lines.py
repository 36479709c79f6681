"""Envoy's log lines as events for the agent's log stream (pure).

Envoy is started with `--log-format "[%l][%n] %v"` and `--log-format-escaped`: every event is
one line (a newline inside a message is written as `\\n`), led by its level and the Envoy logger
that wrote it (`[warning][config] ...`). A line without that shape (a crash before logging is set
up, anything the process prints itself) is still forwarded, at UNTAGGED_LEVEL.

The access log (mesh.envoy.translate.access_log) is on the same stdout, one JSON object per
request with logger ACCESS_LOGGER: `access_fields` turns such a line into the fields of an
access event, as the builtin plane logs them (mesh.proxy.http.access_log.RequestRecord.fields),
so that the agent logs it as an event with those fields rather than as a line of text. What
Envoy's formatter cannot say as the builtin plane does is put right here: the inbound caller,
a SPIFFE ID, becomes its service name; Envoy's null for a missing header becomes "" and its
response flags a list (an empty one left out, as the builtin plane leaves it out); its response
code details are the `reason` when Envoy answered itself, left out when the app did.
`access_logged` applies the agent's `access_log` setting (all, errors, off) to such a line.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from mesh.config.model import AccessLogMode
from mesh.identity import ServiceIdentity

# spdlog's format: %l is the full level name, %n the logger (Envoy's component), %v the message.
LOG_FORMAT: Final = "[%l][%n] %v"

Level = Literal["debug", "info", "warning", "error", "critical"]

# Envoy's levels onto the agent's (structlog's) method names; trace is debug to us.
_LEVELS: Final[dict[str, Level]] = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "critical": "critical",
}
UNTAGGED_LEVEL: Final[Level] = "warning"
_TAGGED = re.compile(r"\[(?P<level>[a-z]+)\]\[(?P<logger>[\w.:-]*)\] ?(?P<message>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LogLine:
    level: Level
    logger: str | None  # Envoy's component (main, config, upstream, ...); None when the line had no tag
    message: str


def parse_log_line(raw: bytes) -> LogLine | None:
    """One line of Envoy's output as an event; None for a blank line."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if not text.strip():
        return None
    match = _TAGGED.fullmatch(text)
    if match is not None and match["level"] in _LEVELS:
        return LogLine(_LEVELS[match["level"]], match["logger"] or None, match["message"])
    return LogLine(UNTAGGED_LEVEL, None, text)


ACCESS_LOGGER: Final = "mesh.envoy.access"
ACCESS_EVENT: Final = "request"
# Response code details that mean the app answered (or nothing was said): no `reason` then.
_NOT_A_REASON: Final = frozenset({"via_upstream", "-", ""})
# Text fields the builtin plane always writes, "" when there is nothing to say.
_TEXT_FIELDS: Final = ("source", "method", "path", "request_id", "traceparent")


def access_fields(raw: bytes) -> dict[str, object] | None:
    """The fields of an access log line of the host's Envoy; None when `raw` is not one (then it is
    an ordinary log line, for parse_log_line)."""
    text = raw.strip()
    if not text.startswith(b"{"):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("logger") != ACCESS_LOGGER or doc.get("event") != ACCESS_EVENT:
        return None
    del doc["logger"], doc["event"]  # the agent's event log sets both
    for name in _TEXT_FIELDS:
        if doc.get(name) is None:
            doc[name] = ""
    source = doc["source"]
    if isinstance(source, str) and source.startswith("spiffe://"):
        # One that is not a service's ID (Envoy verified it against the trust bundle) is logged as it is.
        with contextlib.suppress(ValueError):
            doc["source"] = ServiceIdentity.parse(source).service
    if not doc.get("upstream"):
        doc.pop("upstream", None)
    flags = doc.pop("flags", None)
    if isinstance(flags, str) and flags not in ("", "-"):
        doc["flags"] = flags.split(",")
    reason = doc.pop("reason", None)
    if isinstance(reason, str) and reason not in _NOT_A_REASON:
        doc["reason"] = reason
    return doc


# Envoy's response flags that say what happened without a failure (the builtin plane's
# INFORMATIONAL_FLAGS): a delay injected by fault injection. Every other flag is a refusal, a
# failure or a cut (RBAC, RL, UF, UO, UT, URX, DC, ...).
INFORMATIONAL_ENVOY_FLAGS: Final = frozenset({"DI"})


def access_logged(mode: AccessLogMode, fields: Mapping[str, object]) -> bool:
    """Whether an access line of Envoy's gets an event under the agent's `access_log` setting, as
    mesh.proxy.http.access_log.logged_under decides for the builtin plane: `errors` keeps a 5xx,
    a request with no response (status 0), one with a flag that is not informational, and an
    error status Envoy answered itself (a `reason`: the RBAC's 403 carries no flag)."""
    if mode == "all":
        return True
    if mode != "errors":
        return False
    status = fields.get("status")
    if not isinstance(status, int) or status >= 500 or status == 0:
        return True
    if status >= 400 and "reason" in fields:
        return True
    flags = fields.get("flags")
    return isinstance(flags, list) and any(flag not in INFORMATIONAL_ENVOY_FLAGS for flag in flags)
