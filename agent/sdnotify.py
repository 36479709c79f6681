"""systemd's notify protocol (sd_notify), without libsystemd: one datagram per message."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    """Sends READY/RELOADING/STATUS/WATCHDOG/STOPPING to $NOTIFY_SOCKET; silent when not under systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # Abstract-namespace sockets are written with a leading '@'.
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_ours = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 1e6 / 2 if usec.isdigit() and watchdog_ours else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, **fields: str) -> bool:
        if not self.address:
            return False
        message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(message, self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify(ready="1", status=status)

    def status(self, status: str) -> bool:
        return self.notify(status=status)

    def watchdog(self) -> bool:
        return self.notify(watchdog="1")

    def reloading(self, status: str) -> bool:
        """Start of a reload; READY=1 ends it. MONOTONIC_USEC (CLOCK_MONOTONIC) is what
        `Type=notify-reload` matches against the moment it sent the reload signal."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(reloading="1", monotonic_usec=str(usec), status=status)

    def stopping(self, status: str) -> bool:
        return self.notify(stopping="1", status=status)
