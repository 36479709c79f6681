"""The systemd notify protocol, driven through a fake NOTIFY_SOCKET."""

import socket
import time
from pathlib import Path

from agent.sdnotify import Notifier


def test_ready_status_and_watchdog_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        assert n.watchdog_interval == 1.0
        assert n.ready("serving 1 service(s)")
        assert server.recv(1024) == b"READY=1\nSTATUS=serving 1 service(s)"
        assert n.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"


def test_abstract_namespace_sockets_are_supported() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0mesh-test-notify")
        assert Notifier({"NOTIFY_SOCKET": "@mesh-test-notify"}).status("hello")
        assert server.recv(1024) == b"STATUS=hello"


def test_without_systemd_nothing_is_sent() -> None:
    n = Notifier({})
    assert not n.enabled
    assert not n.ready("x")
    assert n.watchdog_interval is None


def test_a_watchdog_meant_for_another_pid_is_ignored() -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None


def test_a_reload_announces_itself_with_the_monotonic_clock(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert Notifier({"NOTIFY_SOCKET": path}).reloading("reloading configuration")
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields = dict(line.split("=", 1) for line in server.recv(1024).decode().splitlines())
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    assert fields["STATUS"] == "reloading configuration"
