"""Traffic settings that operators write in Consul KV (DESIGN.md section 5, docs/traffic.md).

Key `<config_prefix>/<kind>/<service>`, value JSON or YAML with the field names of Consul's
config entry of the same kind. This package turns such bytes into an immutable model, or into
InvalidDocument listing every problem with its key path:

    doc_id = parse_key("mesh/config", key)             # DocumentId(kind, service) or None
    doc = parse_document(doc_id.kind, doc_id.service, value, source=key)
    problems = check_references(all_docs)              # [(DocumentId, Problem)], across documents

Validation is the published JSON Schema (mesh/traffic/schemas/) plus the rules in
mesh.traffic.rules; `encode` gives a document back with Consul's field names.
"""

from __future__ import annotations

from mesh.traffic.codec import encode
from mesh.traffic.filters import CONSUL_FILTERS, FilterCompiler
from mesh.traffic.keys import (
    KINDS,
    SERVICE_DEFAULTS,
    SERVICE_RESOLVER,
    SERVICE_ROUTER,
    SERVICE_SPLITTER,
    DocumentId,
    parse_key,
)
from mesh.traffic.model import (
    CookieConfig,
    Failover,
    FailoverTarget,
    Fault,
    FaultAbort,
    FaultDelay,
    HashPolicy,
    HeaderMatch,
    HeaderModifiers,
    HttpMatch,
    InstanceLevelRateLimits,
    LeastRequestConfig,
    Limits,
    LoadBalancer,
    Mirror,
    PassiveHealthCheck,
    QueryParamMatch,
    RateLimits,
    Redirect,
    RetryBackoff,
    RetryBudget,
    RingHashConfig,
    Route,
    RouteDestination,
    RouteRateLimit,
    ServiceDefaults,
    ServiceResolver,
    ServiceRouter,
    ServiceSplitter,
    Split,
    Subset,
    TrafficDocument,
    UpstreamConfig,
    UpstreamConfiguration,
)
from mesh.traffic.parsing import document_problems, parse_document, parse_kv_entry
from mesh.traffic.references import check_references
from mesh.traffic.schema import SCHEMA_FILES, load_schema

__all__ = [
    "CONSUL_FILTERS",
    "KINDS",
    "SCHEMA_FILES",
    "SERVICE_DEFAULTS",
    "SERVICE_RESOLVER",
    "SERVICE_ROUTER",
    "SERVICE_SPLITTER",
    "CookieConfig",
    "DocumentId",
    "Failover",
    "FailoverTarget",
    "Fault",
    "FaultAbort",
    "FaultDelay",
    "FilterCompiler",
    "HashPolicy",
    "HeaderMatch",
    "HeaderModifiers",
    "HttpMatch",
    "InstanceLevelRateLimits",
    "LeastRequestConfig",
    "Limits",
    "LoadBalancer",
    "Mirror",
    "PassiveHealthCheck",
    "QueryParamMatch",
    "RateLimits",
    "Redirect",
    "RetryBackoff",
    "RetryBudget",
    "RingHashConfig",
    "Route",
    "RouteDestination",
    "RouteRateLimit",
    "ServiceDefaults",
    "ServiceResolver",
    "ServiceRouter",
    "ServiceSplitter",
    "Split",
    "Subset",
    "TrafficDocument",
    "UpstreamConfig",
    "UpstreamConfiguration",
    "check_references",
    "document_problems",
    "encode",
    "load_schema",
    "parse_document",
    "parse_key",
    "parse_kv_entry",
]
