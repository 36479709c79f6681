"""Log output captured for a test: the agent's logging configured onto a stream the test owns."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import TextIO

import structlog

from mesh.telemetry.lines import BUFFERED
from mesh.telemetry.logs import EventLog, configure_logging


class CountingStream(io.StringIO):
    """A real in-memory stream that counts the writes made to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@contextlib.contextmanager
def logging_to(out: TextIO, level: str = "debug") -> Iterator[None]:
    """configure_logging(level, out) for the block, then everything as it was."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    saved_out, event_level = BUFFERED.out, EventLog.level
    configure_logging(level, out)
    try:
        yield
    finally:
        BUFFERED.retarget(saved_out)
        EventLog.level = event_level
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, root_level
