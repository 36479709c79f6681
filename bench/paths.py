"""What every proxied scenario shares: the two simulated hosts and a started pair of proxies."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.supervisor import StartupError

# Two "hosts" on loopback, as in examples/demo.py: the client side and the server side.
HOST_A, HOST_B = "127.0.0.2", "127.0.0.3"
CLIENT_SERVICE = "bench-client"


@dataclass(frozen=True)
class ProxyPair:
    """Two hops ready to measure: requests to `entry` go client proxy -> mTLS -> server proxy -> nginx."""

    entry: str  # http://host:port of the client-side plaintext listener
    processes: tuple[subprocess.Popen[bytes], ...]
    envoy_admins: tuple[str, ...] = ()  # http://host:port of each Envoy's admin, client side first

    def url(self, body: str) -> str:
        return f"{self.entry}/{body}"

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.processes)


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
    """One plain GET; None when the connection failed or was refused."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs we built
            body: bytes = resp.read()
            return resp.status, body
    except OSError:
        return None


def wait_for_body(component: str, url: str, expected: bytes, *, timeout: float, log: Path | None) -> None:
    """Poll until `url` serves `expected` (policy and endpoints propagate asynchronously)."""
    deadline = time.monotonic() + timeout
    last: tuple[int, bytes] | None = None
    while time.monotonic() < deadline:
        last = get(url)
        if last is not None and last == (200, expected):
            return
        time.sleep(0.2)
    seen = "no response" if last is None else f"status {last[0]}, {len(last[1])} bytes"
    raise StartupError(component, f"GET {url} did not serve the expected body within {timeout:g}s ({seen})", log)
