"""The agent's Consul client: py-consul's asyncio client, with errors mapped at the edge."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import consul
import consul.aio
from consul.callback import CB

from mesh.config.model import ConsulSettings
from mesh.consul.watch import DEFAULT_WAIT_SECONDS
from mesh.errors import ConsulRefused, ConsulUnavailable

T = TypeVar("T")

# Longer than a blocking query's wait plus Consul's jitter (wait/16), so only a dead
# connection times out.
_HTTP_TIMEOUT = DEFAULT_WAIT_SECONDS * (1 + 1 / 16) + 10


@contextmanager
def consul_errors(what: str) -> Iterator[None]:
    """Translate py-consul, aiohttp and socket errors into the project's own."""
    try:
        yield
    except (consul.ACLPermissionDenied, consul.ACLDisabled) as exc:
        raise ConsulRefused(f"{what}: permission denied ({_first_line(exc)})", 403) from None
    except consul.NotFound as exc:
        raise ConsulRefused(f"{what}: not found ({_first_line(exc)})", 404) from None
    except consul.Timeout:
        raise ConsulUnavailable(f"{what}: timed out") from None
    except consul.ConsulException as exc:
        text = _first_line(exc)
        status = int(text[:3]) if text[:3].isdigit() else 500
        if status >= 500:
            raise ConsulUnavailable(f"{what}: Consul answered {text}") from None
        raise ConsulRefused(f"{what}: Consul refused: {text}", status) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ConsulUnavailable(f"{what}: Consul unreachable ({type(exc).__name__}: {exc})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


class ConsulClient:
    """One HTTP session to the local Consul agent, shared by every watch and registration."""

    def __init__(self, settings: ConsulSettings, token: str | None) -> None:
        url = urlsplit(settings.address)
        scheme = url.scheme or "http"
        self.raw = consul.aio.Consul(
            host=url.hostname or "127.0.0.1",
            port=url.port or (8501 if scheme == "https" else 8500),
            scheme=scheme,
            token=token,
            verify=settings.ca_file or True,
            connections_timeout=_HTTP_TIMEOUT,
        )
        self.address = settings.address

    async def close(self) -> None:
        await self.raw.close()

    async def call(self, what: str, awaitable: Awaitable[T]) -> T:
        with consul_errors(what):
            return await awaitable

    async def get_indexed(self, what: str, path: str, params: list[tuple[str, Any]]) -> tuple[int, Any]:
        """A raw GET through py-consul's HTTP client, for endpoints its API lacks an index on."""
        headers = self.raw.prepare_headers()
        with consul_errors(what):
            index, data = await self.raw.http.get(CB.json(index=True), path, params=params, headers=headers)
        return int(index), data

    @staticmethod
    def blocking_params(index: int, wait: str, dc: str | None = None) -> list[tuple[str, Any]]:
        params: list[tuple[str, Any]] = []
        if index:
            params += [("index", index), ("wait", wait)]
        if dc:
            params.append(("dc", dc))
        return params
