"""A minimal KV version 2 engine, so the stand-in starts like `vault server -dev` (`secret/`).

Read, write, soft-delete of the latest version, and listing; no metadata endpoints beyond
LIST, no check-and-set, no version history reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.devstack.vault.routes import Request, Route, route
from mesh.devstack.vault.tokens import rfc3339
from mesh.devstack.vault.wire import Reply, bad_request


@dataclass
class _Version:
    data: dict[str, Any]
    created: float
    number: int
    deleted_at: float | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "created_time": rfc3339(self.created),
            "custom_metadata": None,
            "deletion_time": rfc3339(self.deleted_at) if self.deleted_at else "",
            "destroyed": False,
            "version": self.number,
        }


class KvV2Backend:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.secrets: dict[str, _Version] = {}
        self._routes = [
            route(
                r"data/(?P<key>.+)",
                read=self._read,
                write=self._write,
                delete=self._delete,
                exists=lambda r: r.params["key"] in self.secrets,
            ),
            route(r"metadata/?(?P<prefix>.*)", list_=self._list),
        ]

    def routes(self) -> Sequence[Route]:
        return self._routes

    def _read(self, req: Request) -> Reply | None:
        version = self.secrets.get(req.params["key"])
        if version is None:
            return None
        data = None if version.deleted_at else version.data
        return Reply(data={"data": data, "metadata": version.metadata()})

    def _write(self, req: Request) -> Reply:
        data = req.body.mapping("data")
        if not req.body.has("data"):
            raise bad_request("no data provided")
        previous = self.secrets.get(req.params["key"])
        version = _Version(data=data, created=self.now(), number=previous.number + 1 if previous else 1)
        self.secrets[req.params["key"]] = version
        return Reply(data=version.metadata())

    def _delete(self, req: Request) -> None:
        version = self.secrets.get(req.params["key"])
        if version is not None:
            version.deleted_at = self.now()

    def _list(self, req: Request) -> Reply | None:
        prefix = req.params.get("prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = sorted(
            {
                key[len(prefix) :].split("/", 1)[0] + ("/" if "/" in key[len(prefix) :] else "")
                for key in self.secrets
                if key.startswith(prefix)
            }
        )
        return Reply(data={"keys": keys}) if keys else None
