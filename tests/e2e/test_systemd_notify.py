"""The systemd notify protocol spoken by the real `mesh-agent run` process, heard through a
NOTIFY_SOCKET this test owns (as systemd would for `Type=notify` with `WatchdogSec=`)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.e2e.conftest import Mesh
from tests.support.processes import Agent, Process, agent_config, http_get, wait_until

pytestmark = pytest.mark.e2e

WATCHDOG_USEC = 1_000_000  # WatchdogSec=1s: pings expected every 0.5 s


@dataclass
class Heard:
    at: float
    fields: dict[str, str]


@dataclass
class FakeSystemd:
    """Records every notification; on READY=1 it checks at once what systemd would rely on."""

    address: str
    agent: Agent | None = None
    heard: list[Heard] = field(default_factory=list)
    checks_at_ready: list[tuple[int, bool]] = field(default_factory=list)

    def messages(self, key: str) -> list[Heard]:
        return [h for h in self.heard if key in h.fields]

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            if fields.get("READY") == "1" and self.agent is not None:
                code = http_get(f"{self.agent.admin}/ready", timeout=2)[0]
                self.checks_at_ready.append((code, _accepts(self.agent.host, self.agent.inbound_port)))
            self.heard.append(Heard(time.monotonic(), fields))


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    name = f"mesh-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    fake = FakeSystemd(f"@{name}")
    stop = threading.Event()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        thread = threading.Thread(target=fake.serve, args=(sock, stop), daemon=True)
        thread.start()
        try:
            yield fake
        finally:
            stop.set()
            thread.join(2)


def test_ready_watchdog_reload_and_stopping_reach_systemd_in_order(mesh: Mesh, systemd: FakeSystemd) -> None:
    host = mesh.host()
    api = mesh.app("api", host)
    path, config = agent_config(
        mesh.tmp, mesh.stack.info, node="host-n", host=host, services=[{"name": "api", "port": api, "address": host}]
    )
    env = {"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    argv = [sys.executable, "-m", "agent.cli", "run", "--config", str(path)]
    agent = Agent("host-n", host, path, config, Process("agent-host-n", argv, mesh.tmp / "host-n" / "agent.log", env))
    systemd.agent = agent
    agent.process.start()
    mesh.agents.append(agent)

    # READY=1 once, and only when /ready answers 200 and the inbound listener accepts.
    wait_until(lambda: systemd.messages("READY"), 20, what="READY=1")
    assert systemd.checks_at_ready == [(200, True)]
    statuses = [h.fields["STATUS"] for h in systemd.messages("STATUS")]
    ready_at = statuses.index("serving 1 service(s)")
    assert "discovering datacenter and trust domain" in statuses[:ready_at]
    assert "registering in Consul" in statuses[:ready_at]

    # WATCHDOG=1 at about half of WATCHDOG_USEC, from the start.
    wait_until(lambda: len(systemd.messages("WATCHDOG")) >= 5, 5, what="five watchdog pings")
    pings = [h.at for h in systemd.messages("WATCHDOG")]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert 0.35 <= statistics.median(gaps) <= 0.7, gaps

    # SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC, then READY=1; the process lives on.
    sent = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    agent.process.send(signal.SIGHUP)
    wait_until(lambda: len(systemd.messages("READY")) == 2, 10, what="READY=1 after the reload")
    (reloading,) = systemd.messages("RELOADING")
    assert sent <= int(reloading.fields["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert reloading.at <= systemd.messages("READY")[1].at
    assert agent.process.running

    # SIGTERM: STOPPING=1, then a clean exit.
    agent.process.send(signal.SIGTERM)
    assert agent.process.proc is not None
    assert agent.process.proc.wait(15) == 0
    assert systemd.messages("STOPPING")
