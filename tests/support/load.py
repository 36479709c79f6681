"""Continuous background traffic for end-to-end tests, with every outcome counted.

    with Load() as load:
        load.http("http", f"http://{host}:{port}/")           # a new connection per request
        load.tcp_connections("tcp", host, tcp_port)            # a new connection per exchange
        load.tcp_stream("stream", host, tcp_port)              # one connection for the whole test
        ...                                                    # rotate, fail over, ...
    assert load.failures() == []

A request counts as failed when it raises, times out, or answers anything but the expected
bytes (HTTP 200 for `http`, its own echo for the TCP kinds).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

TIMEOUT = 5.0


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)


class Load:
    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.tallies: dict[str, Tally] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- kinds of traffic ----------------------------------------------------------------
    def http(self, name: str, url: str) -> None:
        def once() -> None:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:  # noqa: S310 - loopback test URL
                resp.read()
                if resp.status != 200:
                    raise AssertionError(f"HTTP {resp.status}")

        self._loop(name, once)

    def tcp_connections(self, name: str, host: str, port: int) -> None:
        counter = iter(range(1 << 62))

        def once() -> None:
            with socket.create_connection((host, port), timeout=TIMEOUT) as s:
                _exchange(s, f"{name}-{next(counter)}\n".encode())

        self._loop(name, once)

    def tcp_stream(self, name: str, host: str, port: int) -> None:
        """One long-lived connection: every exchange after a failure counts as failed too."""
        holder: list[socket.socket] = []
        counter = iter(range(1 << 62))

        def once() -> None:
            if not holder:
                holder.append(socket.create_connection((host, port), timeout=TIMEOUT))
            _exchange(holder[0], f"{name}-{next(counter)}\n".encode())

        self._loop(name, once, cleanup=lambda: [s.close() for s in holder])

    # -- results --------------------------------------------------------------------------
    def ok(self, name: str) -> int:
        return self.tallies[name].ok

    def failures(self) -> list[str]:
        with self._lock:
            return [f"{name}: {f}" for name, t in self.tallies.items() for f in t.failures]

    def wait_for_traffic(self, at_least: int = 5, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(t.ok >= at_least for t in self.tallies.values()):
                return
            time.sleep(0.05)
        raise AssertionError(f"traffic never got going: {self.tallies}")

    # -- machinery ------------------------------------------------------------------------
    def _loop(self, name: str, once: Callable[[], None], cleanup: Callable[[], object] | None = None) -> None:
        tally = self.tallies.setdefault(name, Tally())

        def run() -> None:
            try:
                broken = False
                while not self._stop.is_set():
                    try:
                        if broken:
                            raise AssertionError("the long-lived connection broke earlier")
                        once()
                        with self._lock:
                            tally.ok += 1
                    except (OSError, AssertionError, urllib.error.URLError) as exc:
                        with self._lock:
                            tally.failures.append(f"{time.strftime('%X')} {type(exc).__name__}: {exc}")
                        broken = cleanup is not None
                    self._stop.wait(self.interval)
            finally:
                if cleanup is not None:
                    cleanup()

        thread = threading.Thread(target=run, name=f"load-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def __enter__(self) -> Load:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 1)


def _exchange(s: socket.socket, line: bytes) -> None:
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        chunk = s.recv(len(line) - len(got))
        if not chunk:
            raise AssertionError(f"connection closed after {len(got)} of {len(line)} echoed bytes")
        got += chunk
    if got != line:
        raise AssertionError(f"echo mismatch: sent {line!r}, got {got!r}")
