"""Free loopback ports and per-test "host" addresses (127.0.0.0/8 is all loopback on Linux)."""

from __future__ import annotations

import itertools
import os
import socket

_hosts = itertools.count(2)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def next_host() -> str:
    """A fresh 127.x.y.z address for a simulated host; distinct across tests of one run."""
    n = next(_hosts) + (os.getpid() % 200) * 1000
    return f"127.{(n >> 16) & 0xFF or 1}.{(n >> 8) & 0xFF}.{n & 0xFF or 1}"
