"""Follow a target (service, subset, datacenter) through resolvers' redirects, as Consul's
discovery-chain compiler does, to find where it ends up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mesh.traffic.model import ServiceResolver


@dataclass(frozen=True, slots=True)
class Target:
    service: str
    subset: str | None = None
    datacenter: str | None = None

    def __str__(self) -> str:
        subset = f"/{self.subset}" if self.subset else ""
        datacenter = f"@{self.datacenter}" if self.datacenter else ""
        return f"{self.service}{subset}{datacenter}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a target ends up. `loop` lists the redirect cycle when there is one; `missing_subset`
    is set when the final service has no such subset."""

    target: Target
    loop: tuple[Target, ...] = ()
    missing_subset: str | None = None
    has_resolver: bool = False

    def describe_missing(self) -> str:
        service = self.target.service
        where = (
            f"service-resolver/{service} does not define it"
            if self.has_resolver
            else (f"there is no service-resolver/{service} document to define it")
        )
        return f"service {service!r} has no subset {self.missing_subset!r}: {where}"


def resolve(start: Target, resolvers: Mapping[str, ServiceResolver]) -> Resolution:
    target = start
    seen: list[Target] = []
    while True:
        if target in seen:
            return Resolution(target, loop=(*seen[seen.index(target) :], target))
        seen.append(target)
        resolver = resolvers.get(target.service)
        redirect = resolver.redirect if resolver is not None else None
        if redirect is not None:
            # Consul keeps the requested subset only while the service stays the same.
            subset = target.subset if redirect.service == target.service else None
            moved = Target(
                redirect.service, redirect.service_subset or subset, redirect.datacenter or target.datacenter
            )
            if moved != target:
                target = moved
                continue
        subset = target.subset or (resolver.default_subset if resolver is not None else None)
        if subset and (resolver is None or resolver.subset(subset) is None):
            return Resolution(target, missing_subset=subset, has_resolver=resolver is not None)
        return Resolution(Target(target.service, subset, target.datacenter))
