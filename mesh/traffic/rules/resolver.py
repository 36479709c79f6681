"""service-resolver rules: subsets and their filters, redirect vs failover, load-balancer options."""

from __future__ import annotations

from typing import Any

from mesh.errors import Problem
from mesh.traffic.filters import FilterCompiler
from mesh.traffic.model.resolver import HASH_BASED_POLICIES, POLICY_LEAST_REQUEST, POLICY_RING_HASH, WILDCARD_SUBSET
from mesh.traffic.paths import join
from mesh.traffic.rules.fields import items, mapping, number, seconds, text


def _undefined(subset: str, subsets: dict[str, Any]) -> str:
    defined = f"defined: {', '.join(sorted(subsets))}" if subsets else "Subsets defines none"
    return f"names subset {subset!r}, which Subsets does not define ({defined})"


def _subset_problems(subsets: dict[str, Any], compile_filter: FilterCompiler) -> list[Problem]:
    problems: list[Problem] = []
    for name, raw in subsets.items():
        expression = text(mapping(raw).get("Filter"))
        if expression:
            try:
                compile_filter(expression)
            except ValueError as exc:
                path = join(join("Subsets", name), "Filter")
                problems.append(Problem(path, f"is not a valid filter expression: {exc}"))
    return problems


def _redirect_problems(name: str, redirect: dict[str, Any], subsets: dict[str, Any]) -> list[Problem]:
    service, subset, datacenter = (text(redirect.get(f)) for f in ("Service", "ServiceSubset", "Datacenter"))
    if not (service or subset or datacenter):
        return [Problem("Redirect", "is empty; set Service, ServiceSubset or Datacenter")]
    if subset and not service:
        return [
            Problem("Redirect.ServiceSubset", f"needs Redirect.Service (use {name!r} for a subset of this service)")
        ]
    if subset and service == name and subset not in subsets:
        return [Problem("Redirect.ServiceSubset", _undefined(subset, subsets))]
    if service == name and not subset and not datacenter:
        return [Problem("Redirect", "redirects the service to itself")]
    return []


def _failover_problems(name: str, key: str, failover: dict[str, Any], subsets: dict[str, Any]) -> list[Problem]:
    path = join("Failover", key)
    problems: list[Problem] = []
    if key != WILDCARD_SUBSET and key not in subsets:
        problems.append(
            Problem(path, f'is keyed by subset {key!r}, which Subsets does not define; "*" means any subset')
        )
    service, subset = text(failover.get("Service")), text(failover.get("ServiceSubset"))
    datacenters = [dc for dc in items(failover.get("Datacenters")) if isinstance(dc, str)]
    targets = [mapping(t) for t in items(failover.get("Targets"))]
    if not (service or subset or datacenters or targets):
        return [*problems, Problem(path, "is empty; set Service, ServiceSubset, Datacenters or Targets")]
    for other, present in (("Datacenters", datacenters), ("Service", service), ("ServiceSubset", subset)):
        if targets and present:
            problems.append(Problem(join(path, "Targets"), f"cannot be set together with {other}"))
    if subset and service in ("", name) and subset not in subsets:
        problems.append(Problem(join(path, "ServiceSubset"), _undefined(subset, subsets)))
    own = "" if key == WILDCARD_SUBSET else key
    if not targets and not datacenters and service in ("", name) and subset == own:
        problems.append(Problem(path, "fails over to the very subset that failed"))
    for index, dc in enumerate(datacenters):
        if dc in datacenters[:index]:
            problems.append(Problem(join(join(path, "Datacenters"), index), f"repeats datacenter {dc!r}"))
    for index, target in enumerate(targets):
        target_subset = text(target.get("ServiceSubset"))
        if target_subset and text(target.get("Service")) in ("", name) and target_subset not in subsets:
            where = join(join(join(path, "Targets"), index), "ServiceSubset")
            problems.append(Problem(where, _undefined(target_subset, subsets)))
    return problems


def _hash_policy_problems(path: str, policy: dict[str, Any]) -> list[Problem]:
    field, value = text(policy.get("Field")), text(policy.get("FieldValue"))
    source_ip = policy.get("SourceIP") is True
    problems: list[Problem] = []
    if source_ip and (field or value):
        problems.append(Problem(path, "hashes either SourceIP or a Field, not both"))
    elif not source_ip and not field:
        problems.append(Problem(path, "must set Field (with FieldValue) or SourceIP"))
    if field and not value:
        problems.append(Problem(join(path, "FieldValue"), f"is required: the name of the {field} to hash"))
    if value and not field:
        problems.append(Problem(join(path, "Field"), "is required with FieldValue (header, cookie or query_parameter)"))
    cookie = policy.get("CookieConfig")
    if isinstance(cookie, dict):
        if field != "cookie":
            problems.append(Problem(join(path, "CookieConfig"), 'only applies to Field "cookie"'))
        if cookie.get("Session") is True and seconds(cookie.get("TTL")):
            problems.append(Problem(join(path, "CookieConfig"), "a session cookie cannot have a TTL"))
    return problems


def _load_balancer_problems(raw: dict[str, Any]) -> list[Problem]:
    policy = text(raw.get("Policy"))
    problems: list[Problem] = []
    if "RingHashConfig" in raw and policy != POLICY_RING_HASH:
        problems.append(Problem("LoadBalancer.RingHashConfig", f'only applies to Policy "ring_hash", not {policy!r}'))
    if "LeastRequestConfig" in raw and policy != POLICY_LEAST_REQUEST:
        problems.append(
            Problem("LoadBalancer.LeastRequestConfig", f'only applies to Policy "least_request", not {policy!r}')
        )
    hash_policies = items(raw.get("HashPolicies"))
    if hash_policies and policy not in HASH_BASED_POLICIES:
        problems.append(Problem("LoadBalancer.HashPolicies", f"need Policy ring_hash or maglev, not {policy!r}"))
    for index, entry in enumerate(hash_policies):
        problems += _hash_policy_problems(join("LoadBalancer.HashPolicies", index), mapping(entry))
    ring = mapping(raw.get("RingHashConfig"))
    low, high = number(ring.get("MinimumRingSize")), number(ring.get("MaximumRingSize"))
    if low and high and low > high:
        problems.append(Problem("LoadBalancer.RingHashConfig", "MinimumRingSize is larger than MaximumRingSize"))
    choices = number(mapping(raw.get("LeastRequestConfig")).get("ChoiceCount"))
    if choices is not None and choices == 1:
        problems.append(
            Problem("LoadBalancer.LeastRequestConfig.ChoiceCount", "must be at least 2 to compare anything")
        )
    return problems


def resolver_problems(name: str, doc: dict[str, Any], compile_filter: FilterCompiler) -> list[Problem]:
    subsets = mapping(doc.get("Subsets"))
    problems = _subset_problems(subsets, compile_filter)
    default = text(doc.get("DefaultSubset"))
    if default and default not in subsets:
        problems.append(Problem("DefaultSubset", _undefined(default, subsets)))
    failovers = mapping(doc.get("Failover"))
    if "Redirect" in doc and failovers:
        problems.append(Problem("Redirect", "cannot be set together with Failover (Consul's rule)"))
    if isinstance(doc.get("Redirect"), dict):
        problems += _redirect_problems(name, doc["Redirect"], subsets)
    for key, failover in failovers.items():
        problems += _failover_problems(name, key, mapping(failover), subsets)
    if isinstance(doc.get("LoadBalancer"), dict):
        problems += _load_balancer_problems(doc["LoadBalancer"])
    return problems
