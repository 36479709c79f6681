"""Every process the harness starts, with its log, and all of them stopped whatever happens.

Children run in their own sessions so a terminal's Ctrl-C reaches only the harness, which
then stops them in reverse start order (agents before the stand-ins they deregister from).
The kernel's parent-death signal covers the case where the harness itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_S = 10.0


class StartupError(RuntimeError):
    """A component did not come up; says which, why, and where its log is."""

    def __init__(self, component: str, reason: str, log: Path | None = None) -> None:
        self.component, self.reason, self.log = component, reason, log
        where = f" (log: {log})" if log else ""
        super().__init__(f"{component} did not start: {reason}{where}")


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str) -> int:
    """A port free on `host` right now (the usual bind-then-release race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(host: str, count: int) -> list[int]:
    """`count` distinct ports free on `host` right now: all held at once, then released together."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Supervisor:
    def __init__(self, log_dir: Path, *, cwd: Path) -> None:
        self.log_dir, self.cwd = log_dir, cwd
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None, stdout_pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        """Start `argv` with stderr (and stdout unless piped) appended to the component's log."""
        log_path = self.log_path(name)
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    cwd=self.cwd,
                    env={**os.environ, **(env or {})},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE if stdout_pipe else log,
                    stderr=log,
                    start_new_session=True,
                    # preexec_fn is unsafe only alongside threads; the harness has none.
                    preexec_fn=_die_with_parent,
                )
        except OSError as exc:
            raise StartupError(name, f"cannot execute {argv[0]}: {exc}", log_path) from None
        self._running.append((name, proc))
        return proc

    def read_line(self, name: str, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
        """The first line the component prints on its piped stdout (a readiness announcement)."""
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b""
        if not line:
            reason = f"exited with {proc.poll()}" if proc.poll() is not None else f"no ready line after {timeout}s"
            raise StartupError(name, reason, self.log_path(name))
        return line

    def wait_until(
        self, name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool], *, timeout: float, what: str
    ) -> None:
        """Poll `ready` until true; StartupError if the process exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise StartupError(name, f"exited with {proc.returncode} before {what}", self.log_path(name))
            if time.monotonic() > deadline:
                raise StartupError(name, f"not {what} after {timeout:g}s", self.log_path(name))
            time.sleep(0.1)

    def run_to_completion(self, name: str, argv: list[str], *, timeout: float) -> str:
        """Run a short-lived tool, return its stdout, and keep a copy in its log."""
        proc = self.start(name, argv, stdout_pipe=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        finally:
            self.stop(proc)
        text = out.decode(errors="replace")
        with open(self.log_path(name), "a") as log:
            log.write(f"$ {' '.join(argv)}\n{text}\n")
        return text

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one process and its group: SIGTERM, then SIGKILL after a grace period."""
        self._running = [(n, p) for n, p in self._running if p is not proc]
        if proc.poll() is not None:
            return  # reaped: its group id may already belong to someone else
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self._running)):
            self.stop(proc)
