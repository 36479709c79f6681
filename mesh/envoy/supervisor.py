"""Run the host's Envoy: start it, know when it is live, restart it when it dies, drain and stop it.

One supervising task owns the process from `start()` to `stop()`:

    spawn -> forward its output into the agent's log, poll /ready -> it exits
          -> on its own: wait (RestartBackoff), spawn again
          -> asked to stop: SIGTERM, SIGKILL after the grace, done

Only that task signals the process, so a restart and a stop can never race over it. Envoy's
own output becomes agent log events (logger "mesh.envoy", one per line, at Envoy's level; an
access log line an event of logger "mesh.envoy.access" with its fields), so an operator reads one
stream, redacted as the agent's own lines are. Readiness comes from
Envoy's admin `/ready` (200 LIVE), polled over aiohttp; `ready()` answers from the last poll
without blocking, so /ready of the agent can ask it on every request.

Draining before a stop asks Envoy to drain every listener gracefully (clients are told to go),
then waits until its open connections reach zero or the deadline passes, then stops. A death
while draining or stopping is not restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

import structlog

from mesh.config.model import AccessLogMode, HostPort
from mesh.envoy.admin import EnvoyAdmin, EnvoyAdminError
from mesh.envoy.command import DRAIN_TIME_S, EnvoyLogLevel, envoy_argv
from mesh.envoy.log_lines import ACCESS_EVENT, ACCESS_LOGGER, access_fields, access_logged, parse_log_line
from mesh.envoy.restart_policy import RestartBackoff
from mesh.errors import MeshError
from mesh.telemetry.logs import EventLog

State = Literal["starting", "live", "restarting", "draining", "stopped"]

STOP_GRACE: Final = 5.0
# /ready polls: often while Envoy comes up (readiness is what start-up waits for), then calmly.
POLL_STARTING: Final = 0.1
POLL_LIVE: Final = 1.0
POLL_DRAIN: Final = 0.1
# Longer lines (a config dump at debug) are dropped with a note rather than buffered without bound.
MAX_LINE: Final = 1 << 20
# Envoy's access log lines, as the agent's access events (mesh.envoy.log_lines.access_fields).
access_log = EventLog(ACCESS_LOGGER)


class EnvoyStartError(MeshError):
    """The Envoy process could not be spawned at all (the binary vanished, or is no program)."""


@dataclass(frozen=True, slots=True)
class EnvoyStatus:
    pid: int | None
    state: State
    restarts: int  # starts after the first, each after an unexpected exit
    last_exit_code: int | None  # negative: killed by that signal (asyncio's convention)
    last_start: float | None  # wall-clock time (time.time()) of the latest start

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EnvoySupervisor:
    def __init__(
        self,
        binary: str | Path,
        bootstrap_path: str | Path,
        admin: HostPort,
        concurrency: int = 0,
        log: Any = None,
        *,
        log_level: EnvoyLogLevel = "warning",
        drain_time_s: int = DRAIN_TIME_S,
        backoff: RestartBackoff | None = None,
        access_log_mode: Callable[[], AccessLogMode] = lambda: "all",
    ) -> None:
        self.argv = envoy_argv(
            binary, bootstrap_path, concurrency=concurrency, log_level=log_level, drain_time_s=drain_time_s
        )
        self.admin = EnvoyAdmin(admin)
        self.log = log if log is not None else structlog.get_logger("mesh.envoy")
        # The agent's `access_log` setting, asked at each line (a reload changes it).
        self.access_log_mode = access_log_mode
        self._backoff = backoff or RestartBackoff()
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._stop_grace = STOP_GRACE
        self._draining = False
        self._live = asyncio.Event()
        self._state: State = "stopped"
        self._restarts = 0
        self._last_exit: int | None = None
        self._last_start: float | None = None

    # --- what the agent asks ------------------------------------------------------------------

    def ready(self) -> bool:
        """Envoy answered LIVE on its latest /ready poll and has not exited since."""
        return self._live.is_set()

    async def wait_live(self) -> None:
        """Until Envoy is live; the caller bounds the wait (asyncio.timeout)."""
        await self._live.wait()

    def status(self) -> EnvoyStatus:
        proc = self._proc
        return EnvoyStatus(
            pid=proc.pid if proc is not None and proc.returncode is None else None,
            state=self._state,
            restarts=self._restarts,
            last_exit_code=self._last_exit,
            last_start=self._last_start,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn Envoy and supervise it; returns once the process runs (not once it is live).

        Raises EnvoyStartError when the first spawn fails: a binary that cannot run at start-up is
        a configuration problem, not one to retry quietly."""
        if self._task is not None:
            raise RuntimeError("the Envoy supervisor was already started")
        proc = await self._spawn()
        self._task = asyncio.create_task(self._supervise(proc), name="envoy supervisor")
        self._task.add_done_callback(self._task_ended)

    async def drain(self, deadline: float) -> None:
        """Drain Envoy's listeners, wait (at most `deadline` seconds) for its connections to end, then stop."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + max(0.0, deadline)
        proc = self._proc
        if (
            self._task is not None
            and proc is not None
            and proc.returncode is None
            and not self._stop_requested.is_set()
        ):
            self._state = "draining"
            self._live.clear()
            self._draining = True  # from now on an exit is final: a drain must not end in a restart
            try:
                await self.admin.drain_listeners()
                self.log.info("draining envoy's listeners", pid=proc.pid, deadline=round(deadline, 2))
                await self._until_no_connections(give_up)
            except EnvoyAdminError as exc:
                self.log.warning("envoy could not be drained; stopping it", error=str(exc))
        await self.stop(grace=max(1.0, give_up - loop.time()))

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns once no Envoy process is left."""
        self._stop_grace = grace
        self._stop_requested.set()
        task = self._task
        if task is None:
            await self.admin.close()
            return
        # asyncio.wait neither cancels the task when this caller is cancelled (the task still stops
        # Envoy, and the caller's cancellation propagates) nor raises what ended the task (logged
        # by _task_ended).
        await asyncio.wait({task})

    # --- the supervising task ----------------------------------------------------------------

    async def _spawn(self) -> asyncio.subprocess.Process:
        self._state = "starting"
        self._live.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *_dies_with_agent(self.argv),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE,
                # Its own session: a Ctrl-C meant for the agent must not kill Envoy behind the
                # supervisor's back (the agent drains it); systemd still stops the whole cgroup.
                start_new_session=True,
            )
        except OSError as exc:
            self._state = "stopped"
            raise EnvoyStartError(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        self._proc = proc
        self._last_start = time.time()
        self.log.info("envoy started", pid=proc.pid, argv=self.argv)
        return proc

    async def _supervise(self, proc: asyncio.subprocess.Process | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                if proc is not None:
                    await self._run(proc)
                if self._stop_requested.is_set() or self._draining:
                    return
                delay = self._backoff.delay_after(loop.time() - started)
                self._state = "restarting"
                self.log.warning("envoy will be started again", in_seconds=delay, restarts=self._restarts)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop_requested.wait()
                if self._stop_requested.is_set():
                    return
                self._restarts += 1
                try:
                    proc = await self._spawn()
                except EnvoyStartError as exc:
                    self.log.error("envoy could not be started", error=str(exc))
                    self._state = "restarting"
                    proc = None
        finally:
            # Whatever ended the task (a stop, a cancellation, a bug), no Envoy outlives it.
            if self._proc is not None and self._proc.returncode is None:
                self._proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await asyncio.shield(self._proc.wait())
            self._state = "stopped"
            self._live.clear()
            await self.admin.close()

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.log.error("the envoy supervisor failed; envoy was killed", error=f"{type(exc).__name__}: {exc}")

    async def _run(self, proc: asyncio.subprocess.Process) -> None:
        """Until `proc` exits: forward its output, poll its readiness; terminate it on a stop request."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        helpers = [
            asyncio.create_task(self._forward(proc.stdout, proc.pid), name="envoy stdout"),
            asyncio.create_task(self._forward(proc.stderr, proc.pid), name="envoy stderr"),
            asyncio.create_task(self._poll_ready(proc), name="envoy readiness"),
        ]
        exited = asyncio.create_task(proc.wait(), name="envoy exit")
        stop = asyncio.create_task(self._stop_requested.wait(), name="envoy stop request")
        try:
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                await self._terminate(proc)
            code = await exited
        finally:
            stop.cancel()
            self._live.clear()
            helpers[2].cancel()
            # The pipes reach EOF once the process is gone; bounded in case a child of Envoy kept them.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*helpers[:2], return_exceptions=True)
            for task in helpers:
                task.cancel()
        self._last_exit = code
        expected = self._stop_requested.is_set() or self._draining
        if expected:
            self.log.info("envoy stopped", pid=proc.pid, exit_code=code)
        else:
            self.log.error("envoy exited unexpectedly", pid=proc.pid, exit_code=code, meaning=_exit_meaning(code))

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self._stop_grace):
                await proc.wait()
        except TimeoutError:
            self.log.warning("envoy ignored SIGTERM; killing it", pid=proc.pid, grace=self._stop_grace)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def _poll_ready(self, proc: asyncio.subprocess.Process) -> None:
        while proc.returncode is None:
            live = await self.admin.live()
            if proc.returncode is not None or self._stop_requested.is_set() or self._draining:
                return
            if live and not self._live.is_set():
                self._state = "live"
                self._live.set()
                self.log.info("envoy is live", pid=proc.pid)
            elif not live and self._live.is_set():
                self._state = "starting"
                self._live.clear()
                self.log.warning("envoy no longer answers LIVE", pid=proc.pid)
            await asyncio.sleep(POLL_LIVE if live else POLL_STARTING)

    async def _forward(self, stream: asyncio.StreamReader, pid: int) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # longer than MAX_LINE: asyncio dropped it and carries on
                self.log.warning("envoy wrote a log line too long to forward", pid=pid, limit=MAX_LINE)
                continue
            if not raw:
                return
            fields = access_fields(raw)
            if fields is not None:
                if access_logged(self.access_log_mode(), fields):
                    access_log.info(ACCESS_EVENT, fields)
                continue
            line = parse_log_line(raw)
            if line is not None:
                getattr(self.log, line.level)(line.message, envoy_logger=line.logger, pid=pid)

    async def _until_no_connections(self, give_up: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < give_up:
            if await self.admin.total_connections() == 0:
                return
            await asyncio.sleep(POLL_DRAIN)
        self.log.warning("envoy still had open connections at the drain deadline")


def _exit_meaning(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "exited with an error" if code else "exited on its own"


def _dies_with_agent(argv: list[str]) -> list[str]:
    """`argv` run so that the kernel kills Envoy if the agent dies without stopping it (a SIGKILL,
    an OOM kill outside systemd's cgroup stop): util-linux's `setpriv --pdeathsig` sets it and execs
    Envoy (same pid). Without setpriv, systemd's stop of the unit's cgroup still covers it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not os.access(argv[0], os.X_OK):
        return argv  # a binary that cannot run fails the spawn itself (EnvoyStartError), not setpriv's exec
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]
