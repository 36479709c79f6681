"""What a check run concludes, with Consul's status rules and output text (agent/checks).

- HTTP: 2xx passing, 429 warning, anything else critical; output
  `HTTP GET <url>: 200 OK Output: <body>`; a failed request is critical with the error;
- TCP: a completed connect is passing (`TCP connect <addr>: Success`);
- alias: the worst status among the aliased service's checks and its node's checks;
  critical when the service is not registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from http import HTTPStatus

import aiohttp

from mesh.devstack.consul.model import CRITICAL, PASSING, WARNING, Check, CheckSpec

DEFAULT_TIMEOUT = 10.0
OUTPUT_MAX = 4096
USER_AGENT = "Consul Health Check"

Result = tuple[str, str]


def _status_text(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


async def http_probe(session: aiohttp.ClientSession, spec: CheckSpec) -> Result:
    method = spec.method or "GET"
    headers = {k: ", ".join(v) for k, v in spec.header.items()}
    headers.setdefault("User-Agent", USER_AGENT)
    headers.setdefault("Accept", "text/plain, text/*, */*")
    timeout = aiohttp.ClientTimeout(total=spec.timeout or DEFAULT_TIMEOUT)
    try:
        async with session.request(
            method, spec.http, headers=headers, data=spec.body or None, timeout=timeout, ssl=not spec.tls_skip_verify
        ) as resp:
            body = (await resp.content.read(OUTPUT_MAX)).decode("utf-8", "replace")
            code = resp.status
    except TimeoutError:
        return CRITICAL, f'{method.title()} "{spec.http}": context deadline exceeded (Client.Timeout exceeded)'
    except aiohttp.ClientError as exc:
        return CRITICAL, f'{method.title()} "{spec.http}": {_describe(exc)}'
    output = f"HTTP {method} {spec.http}: {_status_text(code)} Output: {body}"
    if 200 <= code < 300:
        return PASSING, output
    if code == 429:
        return WARNING, output
    return CRITICAL, output


async def tcp_probe(spec: CheckSpec) -> Result:
    host, _, port = spec.tcp.rpartition(":")
    host = host.strip("[]")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), spec.timeout or DEFAULT_TIMEOUT)
    except TimeoutError:
        return CRITICAL, f"dial tcp {spec.tcp}: i/o timeout"
    except (OSError, ValueError) as exc:
        return CRITICAL, f"dial tcp {spec.tcp}: connect: {_os_reason(exc)}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return PASSING, f"TCP connect {spec.tcp}: Success"


def alias_result(spec: CheckSpec, node: str, checks: Iterable[Check], service_exists: bool) -> Result:
    """agent/checks/alias.go processChecks: critical wins at once, warnings accumulate."""
    status, output = PASSING, "No checks found."
    found = False
    for check in checks:
        if check.node != node:
            continue
        matches = check.service_id == spec.alias_service
        if check.service_id and not matches:
            continue
        found = found or matches
        if check.status in (CRITICAL, WARNING):
            status, output = check.status, f'Aliased check "{check.name}" failing: {check.output}'
            if check.status == CRITICAL:
                break
        elif status == PASSING:
            output = "All checks passing."
    if spec.alias_service and not found and not service_exists:
        return CRITICAL, f"Service {spec.alias_service} could not be found on node {spec.alias_node}"
    return status, output


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"dial tcp {exc.host}:{exc.port}: connect: {_os_reason(exc.os_error)}"
    return str(exc) or type(exc).__name__


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
