"""Each Envoy's admin `/config_dump` saved beside the run's logs, so the agents' Envoys and the
hand-configured pair can be compared on what they were really running (bench/config_diff.py)."""

from __future__ import annotations

from pathlib import Path

from bench.paths import get


def save_config_dumps(log_dir: Path, name: str, admins: tuple[str, ...]) -> list[Path]:
    """`<log_dir>/config_dump-<name>-<a|b>.json` for each admin that answered; the files written."""
    written = []
    for side, admin in zip("ab", admins, strict=False):
        answer = get(f"{admin}/config_dump?include_eds", timeout=10)
        if answer is None or answer[0] != 200:
            continue
        path = log_dir / f"config_dump-{name}-{side}.json"
        path.write_bytes(answer[1])
        written.append(path)
    return written
