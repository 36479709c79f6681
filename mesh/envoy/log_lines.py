"""Envoy's log lines as events for the agent's log stream (pure).

Envoy is started with `--log-format "[%l][%n] %v"` and `--log-format-escaped`: every event is
one line (a newline inside a message is written as `\\n`), led by its level and the Envoy logger
that wrote it (`[warning][config] ...`). A line without that shape (a crash before logging is set
up, anything the process prints itself) is still forwarded, at UNTAGGED_LEVEL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

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
