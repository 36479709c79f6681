"""Where the xDS server listens: a unix socket, or a loopback TCP port (pure parsing).

Envoy's configuration is the whole host's data plane, private keys included (SDS), so the server
is never reachable from the network: a unix socket (the file made 0600, so only the agent's
user, and root, can connect) or a loopback address. Anything else is refused with the reason.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from mesh.errors import MeshError

# sun_path is 108 bytes on Linux, including the terminating NUL.
UNIX_PATH_MAX: Final = 107


class InvalidListenAddress(MeshError):
    """An xDS listen address that is malformed or not local to the host."""


@dataclass(frozen=True)
class ListenAddress:
    """`unix_path` for a unix socket; `host` and `port` for loopback TCP (port 0: any free one)."""

    unix_path: PurePosixPath | None = None
    host: str = ""
    port: int = 0

    @property
    def grpc_target(self) -> str:
        """The address as grpc's `add_insecure_port` takes it."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def with_port(self, port: int) -> ListenAddress:
        return ListenAddress(self.unix_path, self.host, port)

    def __str__(self) -> str:
        return self.grpc_target


def parse_listen_address(text: str) -> ListenAddress:
    """`unix:/absolute/path`, `127.0.0.1:PORT` or `[::1]:PORT`; raises `InvalidListenAddress`."""
    if text.startswith("unix:"):
        return _unix(text, text.removeprefix("unix:"))
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise InvalidListenAddress(f"xDS listen address {text!r}: expected unix:/path or 127.0.0.1:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidListenAddress(
            f"xDS listen address {text!r}: {host!r} is not an IP address (use 127.0.0.1 or ::1, not a name)"
        ) from None
    if not ip.is_loopback:
        raise InvalidListenAddress(
            f"xDS listen address {text!r}: {host} is not a loopback address; the xDS server serves private keys "
            "and must not be reachable from the network"
        )
    if not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidListenAddress(f"xDS listen address {text!r}: port must be 0..65535")
    return ListenAddress(host=str(ip), port=int(port_text))


def _unix(text: str, path: str) -> ListenAddress:
    if not path.startswith("/") or path.startswith("//"):
        raise InvalidListenAddress(f"xDS listen address {text!r}: expected unix:/absolute/path")
    if "\x00" in path:
        raise InvalidListenAddress(f"xDS listen address {text!r}: the path holds a NUL byte")
    if len(path.encode()) > UNIX_PATH_MAX:
        raise InvalidListenAddress(f"xDS listen address {text!r}: the path is longer than {UNIX_PATH_MAX} bytes")
    pure = PurePosixPath(path)
    if pure.name in ("", ".", ".."):
        raise InvalidListenAddress(f"xDS listen address {text!r}: the path names no file")
    return ListenAddress(unix_path=pure)
