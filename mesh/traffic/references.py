"""Checks across documents: what Consul finds when it compiles a discovery chain.

A pure function over a set of documents. Each problem names the document that holds the bad
reference; a redirect or split loop is reported on every document of the loop (the snapshot
builder rejects the one that changed and keeps the previous good version).
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh.errors import Problem
from mesh.traffic.keys import DocumentId
from mesh.traffic.model import (
    ServiceDefaults,
    ServiceResolver,
    ServiceRouter,
    ServiceSplitter,
    Split,
    TrafficDocument,
)
from mesh.traffic.paths import join
from mesh.traffic.planes import BUILTIN_L7, l7_names, not_l7_reason
from mesh.traffic.resolution import Target, resolve


class _Index:
    def __init__(self, docs: Iterable[TrafficDocument], l7: frozenset[str]) -> None:
        self.l7 = l7
        self.needs = l7_names(l7)
        self.defaults: dict[str, ServiceDefaults] = {}
        self.resolvers: dict[str, ServiceResolver] = {}
        self.splitters: dict[str, ServiceSplitter] = {}
        for doc in docs:
            match doc:
                case ServiceDefaults():
                    self.defaults[doc.name] = doc
                case ServiceResolver():
                    self.resolvers[doc.name] = doc
                case ServiceSplitter():
                    self.splitters[doc.name] = doc

    def not_http(self, service: str) -> str | None:
        """Why `service` cannot take L7 routing, when a service-defaults document says so."""
        defaults = self.defaults.get(service)
        if defaults is None or defaults.protocol is None or defaults.protocol in self.l7:
            return None
        how = not_l7_reason(defaults.protocol, self.l7)
        return f"service {service!r} has Protocol {defaults.protocol!r} (service-defaults/{service}), which {how}"


def _subset_problem(path: str, target: Target, index: _Index) -> Problem | None:
    """A missing subset at the end of `target`'s redirects (loops are the resolvers' problem)."""
    result = resolve(target, index.resolvers)
    if result.missing_subset is None:
        return None
    return Problem(join(path, "ServiceSubset") if target.subset else path, result.describe_missing())


def _redirect_and_failover(resolver: ServiceResolver, index: _Index) -> list[Problem]:
    problems: list[Problem] = []
    result = resolve(Target(resolver.name), index.resolvers)
    if result.loop:
        problems.append(Problem("Redirect", "redirect loop: " + " -> ".join(map(str, result.loop))))
    elif resolver.redirect is not None and result.missing_subset is not None:
        named = resolver.redirect.service_subset is not None and result.target.service == resolver.redirect.service
        problems.append(Problem("Redirect.ServiceSubset" if named else "Redirect", result.describe_missing()))
    for failover in resolver.failover:
        path = join("Failover", failover.subset)
        for position, target in enumerate(failover.targets_in_order()):
            if target.service == resolver.name:
                continue  # subsets of the resolver's own service are checked within the document
            where = join(join(path, "Targets"), position) if failover.targets else path
            problem = _subset_problem(where, Target(target.service, target.service_subset, target.datacenter), index)
            if problem is not None:
                problems.append(problem)
    return problems


def _next_splitter(index: _Index, name: str, split: Split) -> str | None:
    """The splitter a split continues into: Consul splits again only toward another service
    that has a splitter, and only when the split names no subset."""
    if split.service != name and split.service_subset is None and split.service in index.splitters:
        return split.service
    return None


def _way_back(index: _Index, current: str, start: str, trail: list[str]) -> list[str] | None:
    for split in index.splitters[current].splits:
        nxt = _next_splitter(index, current, split)
        if nxt == start:
            return [*trail, start]
        if nxt is not None and nxt not in trail:
            found = _way_back(index, nxt, start, [*trail, nxt])
            if found:
                return found
    return None


def _split_loop(index: _Index, splitter: ServiceSplitter) -> list[Problem]:
    """The first split of `splitter` that, through other splitters, leads back to it."""
    for position, split in enumerate(splitter.splits):
        nxt = _next_splitter(index, splitter.name, split)
        loop = _way_back(index, nxt, splitter.name, [splitter.name, nxt]) if nxt is not None else None
        if loop:
            return [Problem(join("Splits", position), "split loop: " + " -> ".join(loop))]
    return []


def _splitter_problems(splitter: ServiceSplitter, index: _Index) -> list[Problem]:
    problems = _split_loop(index, splitter)
    reason = index.not_http(splitter.name)
    if reason:
        problems.append(Problem("", f"cannot split: {reason}; splitting needs {index.needs}"))
    for position, split in enumerate(splitter.splits):
        path = join("Splits", position)
        reason = index.not_http(split.service) if split.service != splitter.name else None
        if reason:
            problems.append(Problem(join(path, "Service"), f"{reason}; splits need HTTP on both sides"))
        if _next_splitter(index, splitter.name, split) is None:
            problem = _subset_problem(path, Target(split.service, split.service_subset), index)
            if problem is not None:
                problems.append(problem)
    return problems


def _router_problems(router: ServiceRouter, index: _Index) -> list[Problem]:
    problems: list[Problem] = []
    reason = index.not_http(router.name)
    if reason:
        problems.append(Problem("", f"cannot route: {reason}; routes need {index.needs}"))
    for position, route in enumerate(router.routes):
        path = join(join("Routes", position), "Destination")
        dest = route.destination
        reason = index.not_http(dest.service) if dest.service != router.name else None
        if reason:
            problems.append(Problem(join(path, "Service"), f"{reason}; route destinations need HTTP"))
        if dest.service_subset is not None or dest.service not in index.splitters:
            problem = _subset_problem(path, Target(dest.service, dest.service_subset), index)
            if problem is not None:
                problems.append(problem)
        if dest.mirror is not None:
            reason = index.not_http(dest.mirror.service)
            if reason:
                problems.append(Problem(join(join(path, "Mirror"), "Service"), f"{reason}; mirrors need HTTP"))
            mirror = Target(dest.mirror.service, dest.mirror.service_subset)
            problem = _subset_problem(join(path, "Mirror"), mirror, index)
            if problem is not None:
                problems.append(problem)
    return problems


def check_references(
    docs: Iterable[TrafficDocument], *, l7: frozenset[str] = BUILTIN_L7
) -> list[tuple[DocumentId, Problem]]:
    """Every problem between documents: subsets that the target's resolver does not define
    (after following its redirects, as Consul does), redirect loops, split loops, and routers or
    splitters on services whose service-defaults Protocol the data plane does not carry at L7
    (`l7`: mesh.traffic.planes; http2 and grpc only with data_plane: envoy). Documents are
    identified by kind and service; later documents with the same identity replace earlier ones."""
    documents = {doc.id: doc for doc in docs}
    index = _Index(documents.values(), l7)
    out: list[tuple[DocumentId, Problem]] = []
    for doc_id, doc in documents.items():
        match doc:
            case ServiceResolver():
                problems = _redirect_and_failover(doc, index)
            case ServiceSplitter():
                problems = _splitter_problems(doc, index)
            case ServiceRouter():
                problems = _router_problems(doc, index)
            case _:
                problems = []
        out.extend((doc_id, problem) for problem in problems)
    return out
