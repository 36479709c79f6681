"""Deciding whether a token's policies allow an operation on a path, as Vault does.

Rules for the same pattern are merged across policies (`deny` wins). An exact pattern beats
any wildcard; among wildcard patterns (`*` suffix glob, `+` one path segment) the most
specific one alone decides, by Vault's documented priority:
  1. the pattern whose first wildcard comes later wins;
  2. a pattern not ending in `*` beats one that does;
  3. fewer `+` segments win;
  4. the longer pattern wins;
  5. the lexicographically greater pattern wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mesh.devstack.vault.policy import Policy

ROOT_POLICY = "root"


@dataclass(frozen=True, slots=True)
class Acl:
    is_root: bool
    exact: dict[str, frozenset[str]]
    wildcard: dict[str, frozenset[str]]

    def capabilities(self, path: str) -> frozenset[str]:
        """The capabilities of the single rule that governs `path` (empty when none does)."""
        if path in self.exact:
            return self.exact[path]
        best: tuple[tuple[int, int, int, int, str], str] | None = None
        for pattern in self.wildcard:
            if _matches(pattern, path):
                key = _priority(pattern)
                if best is None or key > best[0]:
                    best = (key, pattern)
        return self.wildcard[best[1]] if best else frozenset()

    def allows(self, path: str, operation: str, *, sudo: bool = False) -> bool:
        if self.is_root:
            return True
        trimmed = path.rstrip("/")
        if operation == "list" and path not in self.exact and trimmed in self.exact:
            # A LIST of `foo/` is governed by an exact rule for `foo` before any wildcard.
            caps = self.exact[trimmed]
        else:
            caps = self.capabilities(path)
        if "deny" in caps or operation not in caps:
            return False
        return not sudo or "sudo" in caps


def build_acl(policies: Iterable[Policy], policy_names: Iterable[str]) -> Acl:
    names = set(policy_names)
    exact: dict[str, frozenset[str]] = {}
    wildcard: dict[str, frozenset[str]] = {}
    for policy in policies:
        for rule in policy.rules:
            table = wildcard if rule.pattern.endswith("*") or "+" in rule.pattern.split("/") else exact
            merged = table.get(rule.pattern, frozenset()) | rule.capabilities
            table[rule.pattern] = frozenset({"deny"}) if "deny" in merged else merged
    return Acl(is_root=ROOT_POLICY in names, exact=exact, wildcard=wildcard)


def _matches(pattern: str, path: str) -> bool:
    prefix = pattern.endswith("*")
    body = pattern[:-1] if prefix else pattern
    if "+" not in body.split("/"):
        return path.startswith(body) if prefix else path == body
    want = body.split("/")
    have = path.split("/")
    if len(have) < len(want) or (not prefix and len(have) != len(want)):
        return False
    last = len(want) - 1
    for i, part in enumerate(want):
        if part == "+" or part == have[i]:
            continue
        if prefix and i == last and have[i].startswith(part):
            continue
        return False
    return True


def _priority(pattern: str) -> tuple[int, int, int, int, str]:
    positions = [i for i, ch in enumerate(pattern) if ch in "*+"]
    first_wildcard = positions[0] if positions else len(pattern)
    return (
        first_wildcard,
        0 if pattern.endswith("*") else 1,
        -pattern.split("/").count("+"),
        len(pattern),
        pattern,
    )
