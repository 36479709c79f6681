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
from mesh.errors import MeshError, VaultRefused, VaultUnavailable

T = TypeVar("T")

_TIMEOUT = 10.0

# Called once per request with (operation, "ok" | "refused" | "unavailable").
RequestObserver = Callable[[str, str], None]


# Sealed, standby without a leader, rate-limited, overloaded: retry later, same token.
_UNAVAILABLE = (
    hvac.exceptions.VaultDown,
    hvac.exceptions.VaultNotInitialized,
    hvac.exceptions.BadGateway,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.RateLimitExceeded,
)


@contextmanager
def vault_errors(what: str) -> Iterator[None]:
    """Translate hvac and requests errors; Vault's own messages are kept, tokens never are."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise VaultUnavailable(f"{what}: Vault unavailable ({_errors(exc)})") from None
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
        # Vault answers 403 for a token it no longer knows (expired, revoked): log in again.
        raise VaultRefused(f"{what}: permission denied ({_errors(exc)})", 403) from None
    except hvac.exceptions.InvalidRequest as exc:
        raise VaultRefused(f"{what}: Vault refused: {_errors(exc)}", 400) from None
    except hvac.exceptions.InvalidPath as exc:
        raise VaultRefused(f"{what}: no such path ({_errors(exc)})", 404) from None
    except hvac.exceptions.VaultError as exc:
        raise VaultRefused(f"{what}: {type(exc).__name__} ({_errors(exc)})", 500) from None
    except (requests.RequestException, OSError) as exc:
        # The exception text would carry the URL and, for some adapters, headers: only its type.
        raise VaultUnavailable(f"{what}: Vault unreachable ({type(exc).__name__})") from None


def _errors(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(str(e) for e in errors)[:500]
    return (str(exc).splitlines() or ["?"])[0][:300]


class VaultClient:
    """One hvac client; every call runs in a worker thread so the event loop never blocks."""

    def __init__(self, settings: VaultSettings, *, observe: RequestObserver | None = None) -> None:
        self.settings = settings
        self.hvac = hvac.Client(url=settings.address, verify=settings.ca_file or True, timeout=_TIMEOUT)
        self._observe = observe

    @property
    def token(self) -> str | None:
        token: str | None = self.hvac.token
        return token

    def set_token(self, token: str) -> None:
        self.hvac.token = token

    async def call(self, operation: str, fn: Callable[..., T], *args: Any, subject: str = "", **kwargs: Any) -> T:
        """One Vault request. `operation` is a stable label (metrics); `subject` adds detail to errors."""
        what = f"{operation} {subject}".strip()

        def run() -> T:
            with vault_errors(what):
                return fn(*args, **kwargs)

        try:
            result = await asyncio.to_thread(run)
        except MeshError as exc:
            self._count(operation, "unavailable" if isinstance(exc, VaultUnavailable) else "refused")
            raise
        self._count(operation, "ok")
        return result

    def _count(self, operation: str, result: str) -> None:
        if self._observe is not None:
            self._observe(operation, result)

    def close(self) -> None:
        adapter = getattr(self.hvac, "adapter", None)
        if adapter is not None:
            adapter.close()
