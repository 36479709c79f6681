"""Evaluating a parsed expression against a Consul-shaped JSON object.

go-bexpr (the version Consul ships) resolves a selector through Go structs, maps and
slices; here the same walk runs over dicts, lists and scalars:

- a dict key that is absent (or null before the end of the path) behaves as a missing
  map key: `==`, `in`, `is not empty` and `matches` are false, their negations true;
- a list met before the end of the path fans out: the match holds if it holds for ANY
  element (`Checks.Status != passing` is "some check is not passing");
- the unquoted/quoted value is coerced to the type found at the end of the path
  (bool, int, float, string), as go-bexpr coerces to the Go field type;
- `in`/`contains` test a dict key, a list element or a substring; `is empty` tests the
  length of a string, list or dict (null counts as empty); `matches` is a regex search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mesh.filterexpr.ast import And, Expression, Match, MatchOp, Not
from mesh.filterexpr.errors import FilterEvaluationError
from mesh.matching.regex import Pattern

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def evaluate(expr: Expression, obj: Any, patterns: Mapping[str, Pattern]) -> bool:
    """True when `obj` satisfies `expr`; `patterns` holds the compiled `matches` regexes."""
    if isinstance(expr, Match):
        return _resolve(expr, obj, 0, patterns)
    if isinstance(expr, Not):
        return not evaluate(expr.operand, obj, patterns)
    if isinstance(expr, And):
        return evaluate(expr.left, obj, patterns) and evaluate(expr.right, obj, patterns)
    return evaluate(expr.left, obj, patterns) or evaluate(expr.right, obj, patterns)


def _missing(op: MatchOp) -> bool:
    # Whatever was looked for cannot equal, be in, or match something absent, and
    # something absent is empty; the negations of those are therefore true.
    return op.negated


def _resolve(match: Match, value: Any, depth: int, patterns: Mapping[str, Pattern]) -> bool:
    path = match.selector.path
    if depth == len(path):
        return _apply(match, value, patterns)
    key = path[depth]
    if isinstance(value, Mapping):
        if key not in value or (value[key] is None and depth + 1 < len(path)):
            return _missing(match.op)
        return _resolve(match, value[key], depth + 1, patterns)
    if _is_list(value):
        if key.isdigit():
            index = int(key)
            if index >= len(value):
                return _missing(match.op)
            return _resolve(match, value[index], depth + 1, patterns)
        # The selector does not index slices: the match is implicitly an ANY.
        return any(_resolve(match, item, depth, patterns) for item in value)
    if value is None:
        return _missing(match.op)
    where = ".".join(path[:depth])
    raise FilterEvaluationError(
        f"Value at selector {where!r} with type {_type_name(value)} does not support nested field selection"
    )


def _apply(match: Match, value: Any, patterns: Mapping[str, Pattern]) -> bool:
    op = match.op.positive
    raw = match.value
    if op is MatchOp.EQUAL:
        assert raw is not None
        result = _equal(raw, value, match)
    elif op is MatchOp.IN:
        assert raw is not None
        result = _contains(raw, value, match)
    elif op is MatchOp.IS_EMPTY:
        result = _is_empty(value, match)
    else:
        result = _matches(value, match, patterns)
    return not result if match.op.negated else result


def _equal(raw: str, value: Any, match: Match) -> bool:
    if value is None:
        return False
    if isinstance(value, Mapping) or _is_list(value):
        raise _invalid(match, value)
    return bool(_coerce(raw, value, match) == value)


def _contains(raw: str, value: Any, match: Match) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return raw in value
    if isinstance(value, Mapping):
        return raw in value
    if _is_list(value):
        for item in value:
            try:
                if item is not None and not isinstance(item, Mapping) and _coerce(raw, item, match) == item:
                    return True
            except FilterEvaluationError:
                # A mixed list: an element of another type just is not this value.
                continue
        return False
    raise _invalid(match, value)


def _is_empty(value: Any, match: Match) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, Mapping)) or _is_list(value):
        return len(value) == 0
    raise _invalid(match, value)


def _matches(value: Any, match: Match, patterns: Mapping[str, Pattern]) -> bool:
    if value is None:
        return False
    if not isinstance(value, str):
        raise FilterEvaluationError(
            f"Value of type {_type_name(value)} at selector {str(match.selector)!r} is not a string to match"
        )
    assert match.value is not None
    return patterns[match.value].search_text(value)


def _coerce(raw: str, like: Any, match: Match) -> Any:
    """Convert the expression's text to the type of the value it is compared with."""
    if isinstance(like, bool):
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise FilterEvaluationError(f"Failed to coerce value {raw!r} to bool for selector {str(match.selector)!r}")
    if isinstance(like, int):
        try:
            return int(raw, 0)
        except ValueError:
            raise FilterEvaluationError(
                f"Failed to coerce value {raw!r} to an integer for selector {str(match.selector)!r}"
            ) from None
    if isinstance(like, float):
        try:
            return float(raw)
        except ValueError:
            raise FilterEvaluationError(
                f"Failed to coerce value {raw!r} to a number for selector {str(match.selector)!r}"
            ) from None
    if isinstance(like, str):
        return raw
    raise _invalid(match, like)


def _invalid(match: Match, value: Any) -> FilterEvaluationError:
    return FilterEvaluationError(
        f"Invalid match operation {match.op.value!r} for selector {str(match.selector)!r} of type {_type_name(value)}"
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map"
    if _is_list(value):
        return "slice"
    return type(value).__name__
