"""service-resolver: which instances of a service answer, and what happens when none can."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mesh.traffic.keys import SERVICE_RESOLVER, DocumentId

# Consul's (and Envoy's) values when the document leaves them out.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_REQUEST_TIMEOUT = 15.0
WILDCARD_SUBSET = "*"

POLICY_RANDOM = "random"
POLICY_ROUND_ROBIN = "round_robin"
POLICY_LEAST_REQUEST = "least_request"
POLICY_RING_HASH = "ring_hash"
POLICY_MAGLEV = "maglev"
HASH_BASED_POLICIES = frozenset({POLICY_RING_HASH, POLICY_MAGLEV})


@dataclass(frozen=True, slots=True)
class Subset:
    """A named group of instances: those matching `filter`, a Consul filter expression over the
    instance (e.g. `Service.Meta.version == v2`; "" matches all). `only_passing` drops instances
    in the warning state too, not only critical ones. Compile `filter` with mesh.filterexpr."""

    name: str
    filter: str = ""
    only_passing: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    """Resolve `service` (subset `service_subset`, datacenter `datacenter`) instead of this service.
    None means: keep the requested subset (default subset when the service changes) and the local
    datacenter."""

    service: str
    service_subset: str | None = None
    datacenter: str | None = None


@dataclass(frozen=True, slots=True)
class FailoverTarget:
    """One place to fail over to; `datacenter` None is the local datacenter."""

    service: str
    service_subset: str | None = None
    datacenter: str | None = None


@dataclass(frozen=True, slots=True)
class Failover:
    """Where requests for `subset` ("*": any subset without its own entry) go when it has no
    healthy instance. Consul's three spellings are kept; `targets_in_order` flattens them."""

    subset: str
    service: str
    service_subset: str | None = None
    datacenters: tuple[str, ...] = ()
    targets: tuple[FailoverTarget, ...] = ()

    def targets_in_order(self) -> tuple[FailoverTarget, ...]:
        """The failover targets to try, first to last, whichever way the document wrote them."""
        if self.targets:
            return self.targets
        if self.datacenters:
            return tuple(FailoverTarget(self.service, self.service_subset, dc) for dc in self.datacenters)
        return (FailoverTarget(self.service, self.service_subset),)


@dataclass(frozen=True, slots=True)
class CookieConfig:
    """For a `cookie` hash policy: have the proxy set the cookie when absent (`ttl` seconds, or a
    session cookie), on `path`."""

    session: bool = False
    ttl: float | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class HashPolicy:
    """What a hash-based policy hashes: a request `field` ("header", "cookie", "query_parameter")
    named `field_value`, or the source address (`source_ip`). `terminal`: when this policy produced
    a hash, ignore the following ones."""

    field: str | None = None
    field_value: str | None = None
    cookie_config: CookieConfig | None = None
    source_ip: bool = False
    terminal: bool = False


@dataclass(frozen=True, slots=True)
class RingHashConfig:
    """Ring sizes for ring_hash; None means Envoy's default (1024 and 8M entries)."""

    minimum_ring_size: int | None = None
    maximum_ring_size: int | None = None


@dataclass(frozen=True, slots=True)
class LeastRequestConfig:
    """For least_request: how many random endpoints to compare; None means 2."""

    choice_count: int | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """How one endpoint is chosen among the healthy ones. `hash_policies` only with ring_hash or
    maglev; when none yields a hash, the choice is random."""

    policy: str = POLICY_ROUND_ROBIN
    ring_hash_config: RingHashConfig | None = None
    least_request_config: LeastRequestConfig | None = None
    hash_policies: tuple[HashPolicy, ...] = ()

    @property
    def is_hash_based(self) -> bool:
        return self.policy in HASH_BASED_POLICIES


@dataclass(frozen=True, slots=True)
class ServiceResolver:
    """The service-resolver document of service `name`.

    Timeouts are seconds, None when unset (DEFAULT_CONNECT_TIMEOUT / DEFAULT_REQUEST_TIMEOUT apply
    unless something more specific, such as a route, sets one). `redirect` and `failover` are never
    both set. `default_subset` None means all instances.
    """

    kind: ClassVar[str] = SERVICE_RESOLVER

    name: str
    connect_timeout: float | None = None
    request_timeout: float | None = None
    default_subset: str | None = None
    subsets: tuple[Subset, ...] = ()
    redirect: Redirect | None = None
    failover: tuple[Failover, ...] = ()
    load_balancer: LoadBalancer | None = None

    @property
    def id(self) -> DocumentId:
        return DocumentId(self.kind, self.name)

    def subset(self, name: str) -> Subset | None:
        return next((s for s in self.subsets if s.name == name), None)

    def failover_for(self, subset: str | None) -> Failover | None:
        """The failover entry for `subset`, falling back to "*". Pass the subset actually resolved
        (after DefaultSubset); None is the unnamed subset (all instances)."""
        key = subset or ""
        exact = next((f for f in self.failover if f.subset == key), None)
        return exact or next((f for f in self.failover if f.subset == WILDCARD_SUBSET), None)
