"""service-router: HTTP routes, first match wins; unmatched requests go to the service itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mesh.matching import HeaderMatch, Pattern
from mesh.traffic.keys import SERVICE_ROUTER, DocumentId
from mesh.traffic.model.common import Fault, HeaderModifiers, Mirror, RetryBackoff, RetryBudget


@dataclass(frozen=True, slots=True)
class QueryParamMatch:
    """A condition on query parameter `name`: exactly one of present/exact/regex (whole value)."""

    name: str
    present: bool = False
    exact: str | None = None
    regex: Pattern | None = None


@dataclass(frozen=True, slots=True)
class HttpMatch:
    """Every condition set must hold. At most one path condition; `path_regex` matches the whole
    path (without the query string). `methods` are upper-case; empty means any method."""

    path_exact: str | None = None
    path_prefix: str | None = None
    path_regex: Pattern | None = None
    headers: tuple[HeaderMatch, ...] = ()
    query_params: tuple[QueryParamMatch, ...] = ()
    methods: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteDestination:
    """Where a matched request goes and how it is treated on the way.

    `service` defaults to the router's own service; `service_subset` None is that service's default
    subset (a destination without subset may be split again by the service's splitter, as in
    Consul). Timeouts are seconds, None when unset. `prefix_rewrite` replaces the matched
    path_prefix/path_exact. Retries: up to `num_retries` times, on `retry_on` conditions (Consul's
    names), on `retry_on_status_codes`, and on connect failures when `retry_on_connect_failure`;
    `retry_budget`, `retry_backoff`, `fault` and `mirror` are this mesh's extensions.
    """

    service: str
    service_subset: str | None = None
    prefix_rewrite: str | None = None
    request_timeout: float | None = None
    idle_timeout: float | None = None
    num_retries: int = 0
    retry_on_connect_failure: bool = False
    retry_on: tuple[str, ...] = ()
    retry_on_status_codes: tuple[int, ...] = ()
    request_headers: HeaderModifiers | None = None
    response_headers: HeaderModifiers | None = None
    retry_budget: RetryBudget | None = None
    retry_backoff: RetryBackoff | None = None
    fault: Fault | None = None
    mirror: Mirror | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """A route: requests that fit `match` (None: every request) go to `destination`."""

    match: HttpMatch | None
    destination: RouteDestination


@dataclass(frozen=True, slots=True)
class ServiceRouter:
    """The service-router document of service `name`.

    Routes are tried in order and the first match wins. Requests no route matches go to the
    service itself (Consul's implicit catch-all), that is to its splitter or resolver.
    """

    kind: ClassVar[str] = SERVICE_ROUTER

    name: str
    routes: tuple[Route, ...] = ()

    @property
    def id(self) -> DocumentId:
        return DocumentId(self.kind, self.name)
