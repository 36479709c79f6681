"""service-resolver: Consul field names <-> ServiceResolver.

Maps (Subsets, Failover) become tuples sorted by key, so equal documents give equal models
whatever the key order. A Service left out means the resolver's own service.
"""

from __future__ import annotations

from typing import Any

from mesh.traffic.codec.common import compact, go_duration, optional_int, optional_seconds
from mesh.traffic.model.resolver import (
    POLICY_ROUND_ROBIN,
    CookieConfig,
    Failover,
    FailoverTarget,
    HashPolicy,
    LeastRequestConfig,
    LoadBalancer,
    Redirect,
    RingHashConfig,
    ServiceResolver,
    Subset,
)


def _cookie_config(raw: dict[str, Any] | None) -> CookieConfig | None:
    if raw is None:
        return None
    config = CookieConfig(
        session=bool(raw.get("Session", False)), ttl=optional_seconds(raw.get("TTL")), path=raw.get("Path") or None
    )
    # A cookie config that sets nothing asks for nothing.
    return config if config != CookieConfig() else None


def _hash_policy(raw: dict[str, Any]) -> HashPolicy:
    return HashPolicy(
        field=raw.get("Field") or None,
        field_value=raw.get("FieldValue") or None,
        cookie_config=_cookie_config(raw.get("CookieConfig")),
        source_ip=bool(raw.get("SourceIP", False)),
        terminal=bool(raw.get("Terminal", False)),
    )


def _load_balancer(raw: dict[str, Any]) -> LoadBalancer:
    ring = raw.get("RingHashConfig")
    least = raw.get("LeastRequestConfig")
    return LoadBalancer(
        policy=raw.get("Policy") or POLICY_ROUND_ROBIN,
        ring_hash_config=RingHashConfig(
            optional_int(ring.get("MinimumRingSize")), optional_int(ring.get("MaximumRingSize"))
        )
        if ring is not None
        else None,
        least_request_config=LeastRequestConfig(optional_int(least.get("ChoiceCount"))) if least is not None else None,
        hash_policies=tuple(_hash_policy(h) for h in raw.get("HashPolicies", [])),
    )


def _failover(name: str, key: str, raw: dict[str, Any]) -> Failover:
    return Failover(
        subset=key,
        service=raw.get("Service") or name,
        service_subset=raw.get("ServiceSubset") or None,
        datacenters=tuple(raw.get("Datacenters", [])),
        targets=tuple(
            FailoverTarget(t.get("Service") or name, t.get("ServiceSubset") or None, t.get("Datacenter") or None)
            for t in raw.get("Targets", [])
        ),
    )


def decode_resolver(name: str, raw: dict[str, Any]) -> ServiceResolver:
    redirect = raw.get("Redirect")
    balancer = raw.get("LoadBalancer")
    return ServiceResolver(
        name=name,
        connect_timeout=optional_seconds(raw.get("ConnectTimeout")),
        request_timeout=optional_seconds(raw.get("RequestTimeout")),
        default_subset=raw.get("DefaultSubset") or None,
        subsets=tuple(
            Subset(key, value.get("Filter", ""), bool(value.get("OnlyPassing", False)))
            for key, value in sorted(raw.get("Subsets", {}).items())
        ),
        redirect=Redirect(
            service=redirect.get("Service") or name,
            service_subset=redirect.get("ServiceSubset") or None,
            datacenter=redirect.get("Datacenter") or None,
        )
        if redirect is not None
        else None,
        failover=tuple(_failover(name, key, value) for key, value in sorted(raw.get("Failover", {}).items())),
        load_balancer=_load_balancer(balancer) if balancer is not None else None,
    )


def _other(service: str, name: str) -> str | None:
    return service if service != name else None


def _failover_to(name: str, failover: Failover) -> dict[str, Any]:
    targets = [
        compact({"Service": _other(t.service, name), "ServiceSubset": t.service_subset, "Datacenter": t.datacenter})
        for t in failover.targets
    ]
    entry = compact(
        {
            "Service": _other(failover.service, name),
            "ServiceSubset": failover.service_subset,
            "Datacenters": list(failover.datacenters),
            "Targets": targets,
        }
    )
    # Failing a named subset over to the default subset of the same service needs Service spelled out.
    return entry or {"Service": failover.service}


def _hash_policy_to(policy: HashPolicy) -> dict[str, Any]:
    cookie = policy.cookie_config
    return compact(
        {
            "Field": policy.field,
            "FieldValue": policy.field_value,
            "CookieConfig": compact(
                {
                    "Session": cookie.session,
                    "TTL": go_duration(cookie.ttl) if cookie.ttl else None,
                    "Path": cookie.path,
                }
            )
            if cookie is not None
            else None,
            "SourceIP": policy.source_ip,
            "Terminal": policy.terminal,
        }
    )


def _load_balancer_to(balancer: LoadBalancer) -> dict[str, Any]:
    ring, least = balancer.ring_hash_config, balancer.least_request_config
    # Empty config objects are kept: their presence is what the policy rules look at.
    return {
        "Policy": balancer.policy,
        **(
            {
                "RingHashConfig": compact(
                    {"MinimumRingSize": ring.minimum_ring_size, "MaximumRingSize": ring.maximum_ring_size}
                )
            }
            if ring
            else {}
        ),
        **({"LeastRequestConfig": compact({"ChoiceCount": least.choice_count})} if least else {}),
        **({"HashPolicies": [_hash_policy_to(h) for h in balancer.hash_policies]} if balancer.hash_policies else {}),
    }


def encode_resolver(doc: ServiceResolver) -> dict[str, Any]:
    redirect = doc.redirect
    return compact(
        {
            "Kind": doc.kind,
            "Name": doc.name,
            "ConnectTimeout": go_duration(doc.connect_timeout) if doc.connect_timeout else None,
            "RequestTimeout": go_duration(doc.request_timeout) if doc.request_timeout else None,
            "DefaultSubset": doc.default_subset,
            # Subsets and failover entries with nothing set are still entries: build them unfiltered.
            "Subsets": {s.name: compact({"Filter": s.filter, "OnlyPassing": s.only_passing}) for s in doc.subsets},
            "Redirect": compact(
                {
                    # Consul wants Service spelled out whenever a subset is named.
                    "Service": redirect.service if redirect.service_subset else _other(redirect.service, doc.name),
                    "ServiceSubset": redirect.service_subset,
                    "Datacenter": redirect.datacenter,
                }
            )
            if redirect is not None
            else None,
            "Failover": {f.subset: _failover_to(doc.name, f) for f in doc.failover},
            "LoadBalancer": _load_balancer_to(doc.load_balancer) if doc.load_balancer is not None else None,
        }
    )
