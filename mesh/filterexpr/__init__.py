"""Consul's filter expression language (go-bexpr), pure and I/O free.

Used by the Consul stand-in for `?filter=` and by the mesh for service-resolver
`Subsets[].Filter`:

    >>> f = compile_filter('Service.Meta.version == v2 and "canary" not in Service.Tags')
    >>> f.matches({"Service": {"Meta": {"version": "v2"}, "Tags": ["stable"]}})
    True

An empty (or blank) expression matches everything, as an absent filter does in Consul. `matches`
takes RE2 syntax, as go-bexpr's Go regexp does (mesh/matching/regex.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh.filterexpr.ast import And, Expression, Match, MatchOp, Not, Or, Selector
from mesh.filterexpr.errors import FilterEvaluationError, FilterSyntaxError
from mesh.filterexpr.evaluate import evaluate
from mesh.filterexpr.parser import parse
from mesh.matching.regex import Pattern, RegexError, compile_regex

__all__ = [
    "And",
    "Expression",
    "Filter",
    "FilterEvaluationError",
    "FilterSyntaxError",
    "Match",
    "MatchOp",
    "Not",
    "Or",
    "Selector",
    "compile_filter",
]


@dataclass(frozen=True)
class Filter:
    """A compiled filter; `expression` is None for the match-everything filter."""

    source: str
    expression: Expression | None
    _patterns: Mapping[str, Pattern] = field(default_factory=dict, repr=False, compare=False)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether `obj` (a Consul-shaped dict) satisfies the filter.

        Raises FilterEvaluationError when the expression cannot apply to the types found
        (for example `==` on a list), which go-bexpr reports when creating the filter.
        """
        if self.expression is None:
            return True
        return evaluate(self.expression, obj, self._patterns)

    def __str__(self) -> str:
        return self.source


def compile_filter(expr: str) -> Filter:
    """Parse `expr`; FilterSyntaxError (a ValueError) says where it went wrong."""
    if not expr.strip():
        return Filter(source=expr, expression=None)
    tree = parse(expr)
    return Filter(source=expr, expression=tree, _patterns=_compile_patterns(expr, tree))


def _compile_patterns(source: str, tree: Expression) -> dict[str, Pattern]:
    patterns: dict[str, Pattern] = {}
    stack: list[Expression] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Match):
            if node.op.positive is MatchOp.MATCHES and node.value is not None and node.value not in patterns:
                try:
                    patterns[node.value] = compile_regex(node.value)
                except RegexError as exc:
                    position = source.find(node.value)
                    raise FilterSyntaxError(
                        source,
                        max(position, 0),
                        f"Failed to compile regular expression {node.value!r}: {exc.reason}",
                    ) from None
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend((node.left, node.right))
    return patterns
