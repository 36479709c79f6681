"""service-defaults: what a service is (protocol), how it accepts calls, and how it calls its upstreams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mesh.matching import Pattern
from mesh.traffic.keys import SERVICE_DEFAULTS, DocumentId
from mesh.traffic.model.common import Fault, RetryBackoff, RetryBudget

# Consul's values (seconds) for the `...Ms` fields below when they are 0.
DEFAULT_LOCAL_CONNECT_TIMEOUT = 5.0
DEFAULT_LOCAL_REQUEST_TIMEOUT = 15.0


def _seconds_or_none(ms: int) -> float | None:
    return ms / 1000 if ms else None


@dataclass(frozen=True, slots=True)
class Limits:
    """Circuit breaking: concurrency limits toward one upstream, per calling instance.

    None means the document sets no limit. (0 is refused at validation: it would refuse all traffic.)
    """

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_concurrent_requests: int | None = None


@dataclass(frozen=True, slots=True)
class PassiveHealthCheck:
    """Outlier detection: an endpoint failing `max_failures` times in a row (5xx or connect error)
    is ejected for `base_ejection_time` x (times ejected) seconds, at most `max_ejection_percent`
    of the endpoints at once, with probability `enforcing_consecutive_5xx` percent. Unset fields
    hold Envoy's defaults, as in Consul."""

    interval: float = 10.0
    max_failures: int = 5
    enforcing_consecutive_5xx: int = 100
    max_ejection_percent: int = 10
    base_ejection_time: float = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Settings for calls from this service to an upstream (Consul's UpstreamConfig).

    `name` is the upstream service for an override, "" for the defaults. `connect_timeout_ms` is
    kept as Consul has it (0 = unset); `connect_timeout` gives seconds, None when unset.
    """

    name: str = ""
    connect_timeout_ms: int = 0
    limits: Limits | None = None
    passive_health_check: PassiveHealthCheck | None = None
    retry_budget: RetryBudget | None = None
    retry_backoff: RetryBackoff | None = None

    @property
    def connect_timeout(self) -> float | None:
        return _seconds_or_none(self.connect_timeout_ms)


@dataclass(frozen=True, slots=True)
class UpstreamConfiguration:
    """Defaults for every upstream of the service, and per-upstream overrides."""

    defaults: UpstreamConfig | None = None
    overrides: tuple[UpstreamConfig, ...] = ()

    def for_upstream(self, service: str) -> UpstreamConfig | None:
        """The settings toward `service`: its override's fields where set, else the defaults'
        (Consul merges field by field the same way). None when neither applies."""
        override = next((o for o in self.overrides if o.name == service), None)
        if override is None:
            return self.defaults
        base = self.defaults or UpstreamConfig()
        return UpstreamConfig(
            name=service,
            connect_timeout_ms=override.connect_timeout_ms or base.connect_timeout_ms,
            limits=override.limits or base.limits,
            passive_health_check=override.passive_health_check or base.passive_health_check,
            retry_budget=override.retry_budget or base.retry_budget,
            retry_backoff=override.retry_backoff or base.retry_backoff,
        )


@dataclass(frozen=True, slots=True)
class RouteRateLimit:
    """A rate limit for the requests whose path matches (exactly one of the three path fields is set)."""

    requests_per_second: int
    requests_max_burst: int
    path_exact: str | None = None
    path_prefix: str | None = None
    path_regex: Pattern | None = None


@dataclass(frozen=True, slots=True)
class InstanceLevelRateLimits:
    """Token buckets per instance of the service: `requests_per_second` refill, `requests_max_burst`
    size (Consul: burst defaults to the rate). A rate of 0 means no service-wide limit; the first
    route whose path matches applies instead of the service-wide limit."""

    requests_per_second: int = 0
    requests_max_burst: int = 0
    routes: tuple[RouteRateLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Inbound HTTP rate limits (Consul Enterprise has them; this mesh implements them)."""

    instance_level: InstanceLevelRateLimits


@dataclass(frozen=True, slots=True)
class ServiceDefaults:
    """The service-defaults document of service `name`.

    `protocol` is None when the document leaves it to the agent configuration. http2 and grpc are
    L7 on the Envoy plane; the builtin plane carries them as opaque TCP (see `effective_protocol`,
    mesh.traffic.planes). `mutual_tls_mode` None means the agent's
    `inbound.mtls_mode`. `max_inbound_connections` 0 means no limit. The `...Ms` fields are kept as
    Consul has them (0 = unset, the default applies); the properties give seconds or None.
    """

    kind: ClassVar[str] = SERVICE_DEFAULTS

    name: str
    protocol: str | None = None
    mutual_tls_mode: str | None = None
    max_inbound_connections: int = 0
    local_connect_timeout_ms: int = 0
    local_request_timeout_ms: int = 0
    upstream_config: UpstreamConfiguration | None = None
    rate_limits: RateLimits | None = None
    fault: Fault | None = None

    @property
    def id(self) -> DocumentId:
        return DocumentId(self.kind, self.name)

    @property
    def effective_protocol(self) -> str | None:
        """ "http" or "tcp" as the builtin plane carries the service; None when the document does not say."""
        if self.protocol is None:
            return None
        return "http" if self.protocol == "http" else "tcp"

    @property
    def local_connect_timeout(self) -> float | None:
        return _seconds_or_none(self.local_connect_timeout_ms)

    @property
    def local_request_timeout(self) -> float | None:
        return _seconds_or_none(self.local_request_timeout_ms)
