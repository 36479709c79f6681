"""What the kernel reports about a proxy process: resident memory and CPU time used so far.

Memory is `VmRSS` from /proc/<pid>/status. CPU is utime + stime from /proc/<pid>/stat, which
for a process (as opposed to /proc/<pid>/task/<tid>/stat) is the whole thread group's total,
exited threads included: Envoy's worker and main threads, the agent's event loop and its
worker threads alike. The kernel counts it in clock ticks (`SC_CLK_TCK`, usually 100 a second),
so one reading is exact to 10 ms; over a measured row of several seconds and thousands of
requests that is well under one per cent.
"""

from __future__ import annotations

import os
from pathlib import Path

# Fields of /proc/<pid>/stat counted from 1 (proc(5)): 14 utime, 15 stime. Field 2, the command
# name in parentheses, may itself hold spaces and parentheses, so fields are counted from the
# last ')' on: field 3 (state) is the first after it.
_UTIME_FIELD, _STIME_FIELD, _FIRST_AFTER_COMM = 14, 15, 3


def parse_vmrss_kib(status_text: str) -> int | None:
    """VmRSS in KiB from a /proc/<pid>/status text; None for kernel threads or zombies (no such line)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmRSS unit in {line!r}")
            return int(value)
    return None


def parse_cpu_ticks(stat_text: str) -> int:
    """utime + stime, in clock ticks, from a /proc/<pid>/stat line; ValueError if it is not one."""
    _, paren, rest = stat_text.rpartition(")")
    fields = rest.split()
    last = _STIME_FIELD - _FIRST_AFTER_COMM
    if not paren or len(fields) <= last:
        raise ValueError(f"not a /proc/<pid>/stat line: {stat_text[:80]!r}")
    return int(fields[_UTIME_FIELD - _FIRST_AFTER_COMM]) + int(fields[last])


def cpu_used(before: tuple[float | None, ...], after: tuple[float | None, ...]) -> tuple[float, ...]:
    """Each process's CPU seconds between two readings; empty if any process was gone at either."""
    pairs = list(zip(before, after, strict=True))
    if any(b is None or a is None for b, a in pairs):
        return ()
    # Rounded to well below a clock tick: the readings are whole ticks, the rest is float noise.
    return tuple(round(a - b, 6) for b, a in pairs if a is not None and b is not None)


def rss_kib(pid: int) -> int | None:
    try:
        return parse_vmrss_kib(Path(f"/proc/{pid}/status").read_text())
    except FileNotFoundError:
        return None


def parse_children(texts: list[str]) -> tuple[int, ...]:
    """Child pids from the `/proc/<pid>/task/<tid>/children` texts of every thread (space-separated)."""
    return tuple(sorted({int(v) for text in texts for v in text.split()}))


def children(pid: int) -> tuple[int, ...]:
    """The live children of `pid` (any thread may have started them); empty once it is gone."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return ()
    texts = []
    for task in tasks:
        try:
            texts.append((task / "children").read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between the listing and the read
    return parse_children(texts)


def command_name(pid: int) -> str | None:
    """The process's command name (`comm`: the executable's name, after any exec), None once gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used since it started; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_cpu_ticks(text) / os.sysconf("SC_CLK_TCK")
