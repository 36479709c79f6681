"""The agent's Vault client: hvac (synchronous) run off the event loop, errors mapped at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from mesh.config.model import VaultSettings
from mesh.errors import VaultRefused, VaultUnavailable

T = TypeVar("T")

_TIMEOUT = 10.0


@contextmanager
def vault_errors(what: str) -> Iterator[None]:
    """Translate hvac and requests errors; Vault's own messages are kept, tokens never are."""
    try:
        yield
    except (hvac.exceptions.VaultDown, hvac.exceptions.BadGateway, hvac.exceptions.InternalServerError) as exc:
        raise VaultUnavailable(f"{what}: Vault unavailable ({_errors(exc)})") from None
    except hvac.exceptions.Forbidden as exc:
        raise VaultRefused(f"{what}: permission denied ({_errors(exc)})", 403) from None
    except hvac.exceptions.InvalidRequest as exc:
        raise VaultRefused(f"{what}: Vault refused: {_errors(exc)}", 400) from None
    except hvac.exceptions.InvalidPath as exc:
        raise VaultRefused(f"{what}: no such path ({_errors(exc)})", 404) from None
    except hvac.exceptions.VaultError as exc:
        raise VaultRefused(f"{what}: {type(exc).__name__} ({_errors(exc)})", 500) from None
    except (requests.RequestException, OSError) as exc:
        raise VaultUnavailable(f"{what}: Vault unreachable ({type(exc).__name__})") from None


def _errors(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(str(e) for e in errors)[:500]
    return (str(exc).splitlines() or ["?"])[0][:300]


class VaultClient:
    """One hvac client; every call runs in a worker thread so the event loop never blocks."""

    def __init__(self, settings: VaultSettings) -> None:
        self.settings = settings
        self.hvac = hvac.Client(url=settings.address, verify=settings.ca_file or True, timeout=_TIMEOUT)

    @property
    def token(self) -> str | None:
        token: str | None = self.hvac.token
        return token

    def set_token(self, token: str) -> None:
        self.hvac.token = token

    async def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def run() -> T:
            with vault_errors(what):
                return fn(*args, **kwargs)

        return await asyncio.to_thread(run)

    def close(self) -> None:
        adapter = getattr(self.hvac, "adapter", None)
        if adapter is not None:
            adapter.close()
