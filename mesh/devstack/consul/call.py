"""One HTTP request as the endpoint handlers see it: query, body, token, datacenter."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from aiohttp import web

from mesh.devstack.consul.acl import PermissionDenied
from mesh.devstack.consul.acl_authz import Authorizer
from mesh.devstack.consul.blocking import QueryOptions, block, meta_headers
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.store import Store
from mesh.devstack.consul.watches import WatchKey
from mesh.filterexpr import Filter, FilterEvaluationError

if TYPE_CHECKING:
    from mesh.devstack.consul.agent import LocalAgent
    from mesh.devstack.consul.config_state import ConfigState

T = TypeVar("T")
FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs"


class ServerContext(Protocol):
    """What handlers need from the server that received the request."""

    datacenter: str

    @property
    def store(self) -> Store: ...

    @property
    def agent(self) -> LocalAgent: ...

    def store_getter(self, dc: str) -> Callable[[], Store]:
        """A getter for that datacenter's current store; HTTPError 500 for an unknown dc."""
        ...

    def datacenters(self) -> list[str]: ...

    def config_write(self) -> AbstractContextManager[ConfigState]:
        """The config entries to write (the primary datacenter's), replicated once the block ends."""
        ...


@dataclass
class Call:
    request: web.Request
    ctx: ServerContext
    arg: str = ""
    _authz: Authorizer | None = field(default=None, init=False)
    # Set when `allowed` said no during the current read: Consul's ResultsFilteredByACLs.
    filtered_by_acls: bool = field(default=False, init=False)

    # -- query string -------------------------------------------------------------

    @property
    def query(self) -> Any:
        return self.request.query

    def has(self, name: str) -> bool:
        return name in self.request.query

    def get(self, name: str, default: str = "") -> str:
        return str(self.request.query.get(name, default))

    def getall(self, name: str) -> list[str]:
        return list(self.request.query.getall(name, []))

    def flag(self, name: str) -> bool:
        """Consul's boolean query parameters: present and not explicitly false."""
        if name not in self.request.query:
            return False
        value = self.get(name).lower()
        if value in ("", "1", "t", "true"):
            return True
        if value in ("0", "f", "false"):
            return False
        raise HTTPError(400, f"Invalid value for ?{name}")

    # -- identity -----------------------------------------------------------------

    @property
    def token(self) -> str:
        """?token, else X-Consul-Token, else `Authorization: Bearer` (agent/http.go)."""
        if self.get("token"):
            return self.get("token")
        header = self.request.headers.get("X-Consul-Token", "")
        if header:
            return header
        parts = self.request.headers.get("Authorization", "").split(" ")
        if len(parts) > 1 and parts[0].lower() == "bearer":
            return " ".join(parts[1:]).strip().split(" ")[0]
        return ""

    @property
    def authz(self) -> Authorizer:
        if self._authz is None:
            self._authz = self.ctx.store.acl.authorizer(self.token)
        return self._authz

    def require(self, resource: str, access: str, name: str | None = None) -> None:
        self.authz.require(resource, access, name)

    def allowed(self, resource: str, access: str, name: str = "") -> bool:
        """Whether a result may be shown; a no marks the answer as filtered by ACLs."""
        ok = self.authz.allows(resource, access, name)
        if not ok:
            self.filtered_by_acls = True
        return ok

    def acl_headers(self) -> dict[str, str]:
        """`X-Consul-Results-Filtered-By-ACLs: true` when `allowed` removed something."""
        return {FILTERED_HEADER: "true"} if self.filtered_by_acls else {}

    # -- body -----------------------------------------------------------------------

    async def json(self) -> Any:
        raw = await self.request.read()
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise HTTPError(400, f"Request decode failed: {exc}") from None
        except RecursionError:
            raise HTTPError(400, "Request decode failed: nested too deeply") from None

    # -- server reads ---------------------------------------------------------------

    @property
    def dc(self) -> str:
        return self.get("dc") or self.ctx.datacenter

    def options(self) -> QueryOptions:
        return QueryOptions.parse(self.request.query)

    async def blocking(
        self, read: Callable[[Store], tuple[int, T]], watch: Collection[WatchKey], *, peered: bool = False
    ) -> tuple[T, Mapping[str, str]]:
        """A blocking read of this request's datacenter, woken by writes to `watch`: the result
        and its QueryMeta headers.

        `peered` reads take Consul's `?peer=NAME`. This stand-in has no cluster peerings, so every
        named peer is unknown and, as in Consul's state store, its reads find nothing: an empty
        list or map (None for a single object), at the table's index.
        """
        opts = self.options()
        getter = self.ctx.store_getter(self.dc)
        self.authz  # noqa: B018 - resolve the token first, so an unknown one is refused at once
        other_peer = peered and bool(self.get("peer"))

        def run(store: Store) -> tuple[int, T]:
            self.filtered_by_acls = False  # each re-read decides afresh
            index, result = read(store)
            if other_peer:
                self.filtered_by_acls = False
                return index, _nothing_like(result)
            return index, result

        index, result = await block(opts, getter, run, watch)
        return result, {**meta_headers(index, opts), **self.acl_headers()}

    async def read(
        self, read: Callable[[Store], tuple[int, Any]], watch: Collection[WatchKey], *, peered: bool = False
    ) -> web.Response:
        """A blocking read answered as JSON with QueryMeta headers."""
        result, headers = await self.blocking(read, watch, peered=peered)
        return json_response(result, headers=headers)


def _nothing_like(result: T) -> T:
    """What a read of an unknown peer finds: nothing, in the shape of the local answer."""
    if isinstance(result, list):
        return cast(T, [])
    if isinstance(result, dict):
        return cast(T, {})
    return cast(T, None)


def apply_filter(flt: Filter, items: Iterable[T], view: Callable[[T], Mapping[str, Any]]) -> list[T]:
    """Keep the items whose Consul view matches; evaluation problems are Consul's 500."""
    try:
        return [item for item in items if flt.matches(view(item))]
    except FilterEvaluationError as exc:
        raise HTTPError(500, f"Failed to create boolean expression evaluator: {exc}") from None


Handler = Callable[[Call], Awaitable[web.StreamResponse]]

__all__ = ["Call", "HTTPError", "Handler", "PermissionDenied", "ServerContext", "apply_filter"]
