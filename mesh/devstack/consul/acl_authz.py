"""What one token may do: its policies' rules merged, then the default policy (pure).

Consul's decisions, reproduced:
- several rules for the same name (from the token's policies and identities) merge: deny wins,
  then write, then list, then read;
- an exact rule for a name beats every prefix rule; among prefix rules the longest wins;
- a matched rule decides: write grants write, read and list; list grants list and read; read
  grants read; deny nothing;
- nothing matched: the default policy (`allow` or `deny`) decides, except for `acl`, which only
  an `acl` rule or a management token grants, even under `allow`;
- `intention` reads the service rules' `intentions` (read or write service policy: read);
  `mesh` falls back to `operator` when no mesh rule is given.

`PermissionDenied` carries Consul's 403 text (acl/errors.go, PermissionDeniedError).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mesh.devstack.consul.acl_rules import DENY, LIST, READ, SCALARS, WRITE, Rule, Rules

ANONYMOUS_ACCESSOR = "00000000-0000-0000-0000-000000000002"
_PRECEDENCE = {DENY: 4, WRITE: 3, LIST: 2, READ: 1, "": 0}
_GRANTS = {WRITE: {WRITE, READ, LIST}, LIST: {LIST, READ}, READ: {READ}, DENY: set()}


class PermissionDenied(Exception):
    """Consul's PermissionDeniedError; str() is the 403 body."""


def _stronger(a: str, b: str) -> str:
    return a if _PRECEDENCE[a] >= _PRECEDENCE[b] else b


def _merge_rule(old: Rule | None, new: Rule) -> Rule:
    if old is None:
        return new
    return Rule(policy=_stronger(old.policy, new.policy), intentions=_stronger(old.intentions, new.intentions))


@dataclass
class _Merged:
    exact: dict[str, dict[str, Rule]] = field(default_factory=dict)
    prefix: dict[str, dict[str, Rule]] = field(default_factory=dict)
    scalar: dict[str, str] = field(default_factory=dict)


def _merge(rule_sets: Iterable[Rules]) -> _Merged:
    merged = _Merged()
    for rules in rule_sets:
        for into, source in ((merged.exact, rules.exact), (merged.prefix, rules.prefix)):
            for resource, named in source.items():
                table = into.setdefault(resource, {})
                for name, rule in named.items():
                    table[name] = _merge_rule(table.get(name), rule)
        for key, level in rules.scalar.items():
            merged.scalar[key] = _stronger(merged.scalar.get(key, ""), level)
    return merged


@dataclass(frozen=True)
class Authorizer:
    """Decisions for one request. `accessor` names the token in denials; `management` allows all."""

    accessor: str
    enabled: bool = True
    default_allow: bool = False
    management: bool = False
    rules: tuple[Rules, ...] = ()
    _merged: _Merged = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_merged", _merge(self.rules))

    @classmethod
    def disabled(cls) -> Authorizer:
        """Consul with ACLs off: everything is allowed."""
        return cls(accessor="", enabled=False, default_allow=True)

    # -- decisions -------------------------------------------------------------------

    def _rule(self, resource: str, name: str) -> Rule | None:
        exact = self._merged.exact.get(resource, {}).get(name)
        if exact is not None:
            return exact
        best: tuple[int, Rule] | None = None
        for prefix, rule in self._merged.prefix.get(resource, {}).items():
            if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rule)
        return best[1] if best else None

    def _level(self, resource: str, name: str) -> str | None:
        """The access level the rules give, None when no rule applies."""
        if resource == "intention":
            rule = self._rule("service", name)
            if rule is None:
                return None
            if rule.intentions:
                return rule.intentions
            return READ if rule.policy in (READ, WRITE) else DENY
        if resource == "mesh":
            return self._merged.scalar.get("mesh") or self._merged.scalar.get("operator") or None
        if resource in SCALARS:
            return self._merged.scalar.get(resource) or None
        rule = self._rule(resource, name)
        return rule.policy if rule else None

    def allows(self, resource: str, access: str, name: str = "") -> bool:
        if not self.enabled or self.management:
            return True
        level = self._level(resource, name)
        if level is None:
            return self.default_allow and resource != "acl"
        return access in _GRANTS[level]

    def allows_key_write_prefix(self, prefix: str) -> bool:
        """Deleting a tree: write on the prefix and no rule under it that withholds write."""
        if not self.enabled or self.management:
            return True
        for table in (self._merged.exact.get("key", {}), self._merged.prefix.get("key", {})):
            if any(name.startswith(prefix) and rule.policy != WRITE for name, rule in table.items()):
                return False
        return self.allows("key", WRITE, prefix)

    # -- denials ---------------------------------------------------------------------

    def denial(self, resource: str, access: str, name: str | None = None) -> PermissionDenied:
        target = f' on "{name}"' if name else ""
        if self.accessor == ANONYMOUS_ACCESSOR:
            return PermissionDenied(
                f"Permission denied: anonymous token lacks permission '{resource}:{access}'{target}. "
                "The anonymous token is used implicitly when a request does not specify a token."
            )
        return PermissionDenied(
            f"Permission denied: token with AccessorID '{self.accessor}' lacks permission '{resource}:{access}'{target}"
        )

    def require(self, resource: str, access: str, name: str | None = None) -> None:
        if not self.allows(resource, access, name or ""):
            raise self.denial(resource, access, name)
