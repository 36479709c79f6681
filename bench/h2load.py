"""h2load (Debian's `nghttp2-client`) for the HTTP/2 rows: its command line, and its report read.

h2load prints throughput and min/max/mean per request but no percentiles, so each run also
writes `--log-file` (one line per request of the measured phase: start time, status, duration
in microseconds) and p50/p99 are computed from that. The URL is `http://`, so h2load speaks
h2c with prior knowledge, as a gRPC client does on a plaintext channel. The tool is looked up,
never installed: `make bench` runs by hand, and without h2load its rows say how to get it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.supervisor import Supervisor
from bench.wrk import WrkOutputError, WrkResult

INSTALL_HINT = "h2load not found (Debian: apt-get install nghttp2-client)"
# A gRPC unary call as h2load sends it: POST with this body (one length-prefixed message) and headers.
GRPC_REQUEST = b"\x00\x00\x00\x00\x05\x0a\x03abc"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")

_FINISHED = re.compile(r"finished in (?P<seconds>[\d.]+)s, (?P<rps>[\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (?P<total>\d+) total, \d+ started, (?P<done>\d+) done, (?P<ok>\d+) succeeded, "
    r"(?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout"
)
_STATUS = re.compile(r"status codes: (?P<s2>\d+) 2xx, (?P<s3>\d+) 3xx, (?P<s4>\d+) 4xx, (?P<s5>\d+) 5xx")


@dataclass(frozen=True, slots=True)
class H2Load:
    """One h2load shape: `connections` h2c connections each carrying up to `streams` requests at once."""

    connections: int
    streams: int

    @property
    def label(self) -> str:
        return f"{self.connections}x{self.streams}"


def find_h2load() -> str | None:
    return shutil.which("h2load")


def h2load_argv(
    h2load: str,
    url: str,
    load: H2Load,
    *,
    seconds: int,
    log_file: Path,
    data_file: Path | None = None,
    headers: Sequence[str] = (),
) -> list[str]:
    # One client thread, as wrk runs: a second would only take CPU from the proxies.
    argv = [h2load, "-t1", f"-c{load.connections}", f"-m{load.streams}", "-D", str(seconds)]
    argv += ["--log-file", str(log_file)]
    if data_file is not None:
        argv += ["-d", str(data_file)]
    for header in headers:
        argv += ["-H", header]
    return [*argv, url]


def percentile(sorted_values: Sequence[int], pct: float) -> int:
    """The nearest-rank percentile of an ascending sequence; ValueError when it is empty."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100), at least the first
    return sorted_values[int(rank) - 1]


def parse_log(text: str) -> list[int]:
    """Each request's duration in microseconds from h2load's `--log-file` (start, status, duration)."""
    durations = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[2].strip().isdigit():
            durations.append(int(fields[2]))
    return durations


def parse_h2load(output: str, log_text: str) -> WrkResult:
    """h2load's report and its request log as the row result wrk's runs give; WrkOutputError when a
    number is missing. Requests that failed, errored or timed out count as socket errors, non-2xx
    statuses as non-2xx, as wrk counts them."""
    finished, requests, status = _FINISHED.search(output), _REQUESTS.search(output), _STATUS.search(output)
    durations = sorted(parse_log(log_text))
    named = (("finished", finished), ("requests", requests), ("status codes", status))
    missing = [name for name, found in named if not found]
    if not durations:
        missing.append("request log lines")
    if missing or finished is None or requests is None or status is None:
        raise WrkOutputError(f"h2load output lacks {', '.join(missing)}:\n{output}")
    done = int(requests["done"])
    return WrkResult(
        requests=done,
        duration_s=float(finished["seconds"]),
        rps=float(finished["rps"]),
        p50_ms=percentile(durations, 50) / 1000.0,
        p99_ms=percentile(durations, 99) / 1000.0,
        socket_errors=int(requests["failed"]) + int(requests["errored"]) + int(requests["timeout"]),
        non_2xx=int(status["s3"]) + int(status["s4"]) + int(status["s5"]),
    )


def run_h2load(
    supervisor: Supervisor,
    h2load: str,
    url: str,
    load: H2Load,
    *,
    seconds: int,
    workdir: Path,
    grpc: bool = False,
) -> WrkResult:
    """One h2load run to completion; its output is also appended to the run's h2load log."""
    log_file = workdir / "h2load-requests.log"
    log_file.unlink(missing_ok=True)
    data_file = None
    if grpc:
        data_file = workdir / "grpc-request.bin"
        data_file.write_bytes(GRPC_REQUEST)
    argv = h2load_argv(
        h2load,
        url,
        load,
        seconds=seconds,
        log_file=log_file,
        data_file=data_file,
        headers=GRPC_HEADERS if grpc else (),
    )
    output = supervisor.run_to_completion("h2load", argv, timeout=seconds + 30.0)
    log_text = log_file.read_text() if log_file.exists() else ""
    try:
        return parse_h2load(output, log_text)
    except WrkOutputError as exc:
        raise WrkOutputError(f"{exc}\n(command: {' '.join(argv)}; log: {supervisor.log_path('h2load')})") from None
