"""The command line the host's Envoy runs with (pure).

- `--disable-hot-restart`: the supervisor never hot-restarts (configuration changes arrive over
  xDS; a dead Envoy is started afresh), so Envoy needs no shared-memory region and no base id.
  That is also what lets several agents (tests run many per machine) run an Envoy each without
  their base ids clashing; `--parent-shutdown-time-s`, a hot-restart setting, has nothing to do.
- `--drain-time-s`/`--drain-strategy immediate`: how long a listener that LDS removed or changed,
  or every listener after the admin's `/drain_listeners?graceful`, keeps its connections while
  telling their clients to go (HTTP/1 `Connection: close`, HTTP/2 GOAWAY). Envoy's default is 600 s
  of a gradual drain; the agent's whole shutdown fits in seconds.
- `--concurrency N`, or with 0 `--cpuset-threads`: one worker per CPU the process may run on
  (its cpuset), rather than per hardware thread of the machine, so a pinned or limited host
  does not run more workers than it has CPUs.
- `--log-format`/`--log-format-escaped`: one parseable line per event (mesh.envoy.log_lines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from mesh.envoy.log_lines import LOG_FORMAT

EnvoyLogLevel = Literal["trace", "debug", "info", "warning", "error", "critical", "off"]
DRAIN_TIME_S: Final = 5


def envoy_argv(
    binary: str | Path,
    bootstrap_path: str | Path,
    *,
    concurrency: int = 0,
    log_level: EnvoyLogLevel = "warning",
    drain_time_s: int = DRAIN_TIME_S,
) -> list[str]:
    if concurrency < 0:
        raise ValueError(f"concurrency must be 0 (one worker per CPU) or more, got {concurrency}")
    if drain_time_s < 0:
        raise ValueError(f"drain_time_s must not be negative, got {drain_time_s}")
    argv = [
        str(binary),
        "--config-path",
        str(bootstrap_path),
        "--disable-hot-restart",
        "--drain-time-s",
        str(drain_time_s),
        "--drain-strategy",
        "immediate",
        "--log-level",
        log_level,
        "--log-format",
        LOG_FORMAT,
        "--log-format-escaped",
    ]
    argv += ["--concurrency", str(concurrency)] if concurrency else ["--cpuset-threads"]
    return argv
