"""Resident memory of a process, as the kernel reports it in /proc/<pid>/status."""

from __future__ import annotations

from pathlib import Path


def parse_vmrss_kib(status_text: str) -> int | None:
    """VmRSS in KiB from a /proc/<pid>/status text; None for kernel threads or zombies (no such line)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmRSS unit in {line!r}")
            return int(value)
    return None


def rss_kib(pid: int) -> int | None:
    try:
        return parse_vmrss_kib(Path(f"/proc/{pid}/status").read_text())
    except FileNotFoundError:
        return None
