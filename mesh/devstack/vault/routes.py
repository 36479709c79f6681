"""The vocabulary shared by the backends: operations, requests, routes, mounts.

A backend is a list of routes over the path below its mount, as in Vault's `framework`:
each route names its handlers per operation, whether it needs a token at all
(`unauthenticated`), whether it is root-protected (`sudo`), and optionally an existence
check that turns a write into `create` or `update` for the ACL, exactly as Vault does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.tokens import Token
from mesh.devstack.vault.ttl import MountLimits
from mesh.devstack.vault.wire import Reply


class Operation(StrEnum):
    READ = "read"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class Request:
    operation: Operation
    path: str  # the full logical path, e.g. `pki_int/sign/mesh-leaf`
    params: Mapping[str, str]  # named groups of the route pattern
    body: Body
    token: Token | None
    remote_addr: str = ""


Handler = Callable[[Request], Reply | None]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    handlers: Mapping[Operation, Handler]
    unauthenticated: bool = False
    sudo: bool = False
    exists: Callable[[Request], bool] | None = None


def route(
    pattern: str,
    *,
    read: Handler | None = None,
    list_: Handler | None = None,
    write: Handler | None = None,
    delete: Handler | None = None,
    unauthenticated: bool = False,
    sudo: bool = False,
    exists: Callable[[Request], bool] | None = None,
) -> Route:
    handlers: dict[Operation, Handler] = {}
    if read:
        handlers[Operation.READ] = read
    if list_:
        handlers[Operation.LIST] = list_
    if write:
        handlers[Operation.CREATE] = write
        handlers[Operation.UPDATE] = write
    if delete:
        handlers[Operation.DELETE] = delete
    return Route(re.compile(pattern + r"\Z"), handlers, unauthenticated, sudo, exists)


class Backend(Protocol):
    def routes(self) -> Sequence[Route]: ...


@dataclass
class Mount:
    """An entry of the mount table (`sys/mounts` or `sys/auth`) and the backend behind it."""

    path: str  # with trailing slash, e.g. `pki/` or `auth/approle/`
    type: str
    backend: Backend
    accessor: str
    uuid: str
    description: str = ""
    options: dict[str, str] | None = None
    default_lease_ttl: int = 0  # 0 = the system's
    max_lease_ttl: int = 0
    extra_config: dict[str, object] = field(default_factory=dict)

    def limits(self) -> MountLimits:
        system = MountLimits()
        return MountLimits(
            default_ttl=self.default_lease_ttl or system.default_ttl,
            max_ttl=self.max_lease_ttl or system.max_ttl,
        )

    def match(self, relative: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.backend.routes():
            m = candidate.pattern.match(relative)
            if m:
                return candidate, {k: v for k, v in m.groupdict().items() if v is not None}
        return None
