"""Consul's ACL rule language: rules text (HCL or JSON) to a checked rule set (pure).

    service "web" { policy = "write" intentions = "read" }   service_prefix "" { policy = "read" }
    node "n1" { policy = "write" }    node_prefix "" { policy = "read" }
    key "app/cfg" { policy = "write" }  key_prefix "mesh/" { policy = "list" }
    agent "n1" { policy = "read" }    agent_prefix "" { policy = "read" }
    operator = "read"   mesh = "write"   acl = "read"

Named resources take `read`, `write` or `deny` (keys also `list`); `service` rules may also
say `intentions`, which otherwise follows the service policy (read or write give intention
read, deny gives deny), as in Consul. `event`, `query`, `session` (and their `_prefix`
forms), `keyring` and `peering` are accepted and checked, though no endpoint here uses them.
Anything else is an ACLRuleError that says which rule is wrong and how, since Consul refuses
such a policy too rather than ignore half of it.

Service and node identities are tokens' shorthand for rules Consul generates; `service_identity`
and `node_identity` below produce those same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh.devstack.consul.hcl import HCLError, parse

DENY = "deny"
LIST = "list"
READ = "read"
WRITE = "write"

NAMED = ("service", "node", "key", "agent", "event", "query", "session")
SCALARS = ("operator", "mesh", "acl", "keyring", "peering")
_LEVELS = (READ, WRITE, DENY)
_KEY_LEVELS = (READ, WRITE, LIST, DENY)
MAX_RULES_SIZE = 64 * 1024


class ACLRuleError(ValueError):
    """Why a rules text is not a valid policy."""


@dataclass(frozen=True)
class Rule:
    policy: str
    intentions: str = ""  # service rules only; "" follows the policy


@dataclass(frozen=True)
class Rules:
    """One policy's rules: resource -> name -> rule, for exact and prefix rules; the scalars."""

    exact: Mapping[str, Mapping[str, Rule]] = field(default_factory=dict)
    prefix: Mapping[str, Mapping[str, Rule]] = field(default_factory=dict)
    scalar: Mapping[str, str] = field(default_factory=dict)


def parse_rules(text: str) -> Rules:
    """Rules text as Consul reads it: JSON when it is a JSON object, else HCL."""
    if len(text) > MAX_RULES_SIZE:
        raise ACLRuleError(f"rules are {len(text)} bytes, over the {MAX_RULES_SIZE} allowed")
    if not text.strip():
        return Rules()
    tree: Any
    if text.lstrip().startswith("{"):
        try:
            tree = json.loads(text)
        except ValueError as exc:
            raise ACLRuleError(f"invalid JSON rules: {exc}") from None
        except RecursionError:
            raise ACLRuleError("invalid JSON rules: nested too deeply") from None
    else:
        try:
            tree = parse(text)
        except HCLError as exc:
            raise ACLRuleError(f"invalid HCL rules: {exc}") from None
    return rules_from_tree(tree)


def rules_from_tree(tree: Any) -> Rules:
    if not isinstance(tree, dict):
        raise ACLRuleError("rules must be an object of rule blocks")
    exact: dict[str, dict[str, Rule]] = {}
    prefix: dict[str, dict[str, Rule]] = {}
    scalar: dict[str, str] = {}
    for key, value in tree.items():
        if key in SCALARS:
            if not isinstance(value, str) or value not in _LEVELS:
                raise ACLRuleError(f"Invalid {key} policy: {value!r} (expected read, write or deny)")
            scalar[key] = value
            continue
        resource, is_prefix = (key.removesuffix("_prefix"), True) if key.endswith("_prefix") else (key, False)
        if resource not in NAMED:
            raise ACLRuleError(f"unknown rule {key!r}")
        table = (prefix if is_prefix else exact).setdefault(resource, {})
        for name, body in _named_bodies(key, value):
            if name in table:
                raise ACLRuleError(f'{key} "{name}" is defined twice')
            table[name] = _rule(resource, key, name, body)
    return Rules(exact=exact, prefix=prefix, scalar=scalar)


def _named_bodies(key: str, value: Any) -> list[tuple[str, Any]]:
    """`{"name": {...}}`, or a list of such objects (HCL 1's JSON form of repeated blocks)."""
    objects = value if isinstance(value, list) else [value]
    out: list[tuple[str, Any]] = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise ACLRuleError(f'{key} rules must be blocks with a name: {key} "<name>" {{ policy = "read" }}')
        out.extend(obj.items())
    return out


def _rule(resource: str, key: str, name: str, body: Any) -> Rule:
    where = f'{key} "{name}"'
    if not isinstance(body, dict):
        raise ACLRuleError(f"{where} must be a block with a policy")
    allowed = {"policy", "intentions"} if resource == "service" else {"policy"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ACLRuleError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    levels = _KEY_LEVELS if resource == "key" else _LEVELS
    policy = body.get("policy", "")
    intentions = body.get("intentions", "")
    if policy == "":
        raise ACLRuleError(f"{where} has no policy")
    if policy not in levels:
        raise ACLRuleError(f"Invalid {resource} policy in {where}: {policy!r} (expected {_expected(levels)})")
    if intentions != "" and intentions not in _LEVELS:
        raise ACLRuleError(f"Invalid intentions policy in {where}: {intentions!r} (expected read, write or deny)")
    return Rule(policy=str(policy), intentions=str(intentions))


def _expected(levels: tuple[str, ...]) -> str:
    return ", ".join(levels[:-1]) + f" or {levels[-1]}"


def service_identity(name: str) -> Rules:
    """The rules Consul generates for a service identity."""
    return Rules(
        exact={"service": {name: Rule(WRITE), f"{name}-sidecar-proxy": Rule(WRITE)}},
        prefix={"service": {"": Rule(READ)}, "node": {"": Rule(READ)}},
    )


def node_identity(name: str) -> Rules:
    """The rules Consul generates for a node identity."""
    return Rules(exact={"node": {name: Rule(WRITE)}}, prefix={"service": {"": Rule(READ)}})
