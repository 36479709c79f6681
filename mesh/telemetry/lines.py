"""Every log line leaves the process through here: whole lines, under one lock, some of them batched.

One lock (`LINES`) covers every line written, from structlog (the event loop), from the stdlib
handler (hvac, urllib3 and aiohttp, some in worker threads) and from the access log, so that
lines never interleave: a line landing inside another glues two JSON objects together, and
journald or a log shipper loses both.

Most lines are written at once (`write_line`, one write and one flush each). The access log,
one or two lines per request, goes through the process's `LineBuffer` instead: a line joins
the buffer, and the first line of a loop turn schedules one `call_soon` flush, so the lines
of a turn leave in one write and one flush (one system call) at the start of the next turn
instead of one each. Order is kept: `write_line` writes whatever the buffer holds before its
own line, so the stream shows the lines in the order they were made, whichever way they went.
With no running event loop (a worker thread, a synchronous caller) a line is written at once.

The buffer is bounded (MAX_PENDING lines): a turn that fills it writes them synchronously
there and then. Nothing is ever dropped: an access log that silently loses lines under load
is worse than one that costs a system call more when the load is highest.

What a crash can lose: the lines of the current loop turn, at most MAX_PENDING of them, and
only when the process dies without running Python's shutdown (SIGKILL, a fatal signal,
os._exit). On an orderly exit the agent calls `flush_buffered` once the event loop is done
(agent/cli.py), and any other log line flushes the buffer ahead of itself; an exception
escaping the loop passes through the same flush.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

LINES = threading.Lock()

# About 100 KiB of access log lines; a loop turn on a busy listener finishes a few dozen requests.
MAX_PENDING = 256


def write_line(out: TextIO, line: str) -> None:
    """Write `line` and its newline in one call, flushed, under the lines lock.

    print() writes the text and the newline separately: a line from another thread landing
    between them glues two JSON objects together. Buffered lines go first, to keep the order.
    """
    with LINES:
        BUFFERED.drain()
        out.write(line + "\n")
        out.flush()


def write_lines(out: TextIO, lines: list[str]) -> None:
    """Write `lines` in one call, flushed, under the lines lock."""
    with LINES:
        _write(out, lines)


def _write(out: TextIO, lines: list[str]) -> None:
    out.write("\n".join(lines) + "\n")
    out.flush()


class LineBuffer:
    """Lines written once per event-loop turn, in one write (see the module docstring).

    `out` None is sys.stdout as it is when the lines are written (pytest swaps it per test).
    """

    def __init__(self, out: TextIO | None = None, *, bound: int = MAX_PENDING) -> None:
        self.out = out
        self.bound = bound
        self._pending: list[str] = []

    def add(self, line: str) -> None:
        """Write `line` with the others of this loop turn, or at once with no running loop."""
        with LINES:
            self._pending.append(line)
            count = len(self._pending)
        # Invariant: a non-empty buffer has a flush coming. The line that made it non-empty
        # scheduled one (or wrote it); a later one of the turn only writes when at the bound.
        if count == 1:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
            else:
                loop.call_soon(self.flush)
        elif count >= self.bound:
            self.flush()

    def flush(self) -> None:
        with LINES:
            self.drain()

    def drain(self) -> None:
        """Write what is pending; the caller holds LINES."""
        if self._pending:
            # Taken before the write: if the stream fails, the error is reported once and
            # whatever logs that report does not find the same lines to fail on again.
            lines, self._pending = self._pending, []
            _write(self.out or sys.stdout, lines)

    def retarget(self, out: TextIO | None) -> None:
        """Send later lines to `out`; those pending go where they were meant to."""
        with LINES:
            self.drain()
            self.out = out


# The process's buffer: configure_logging points it at the log stream.
BUFFERED = LineBuffer()


def flush_buffered() -> None:
    """Write the lines still pending (at shutdown, once the event loop has stopped)."""
    BUFFERED.flush()
