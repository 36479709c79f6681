"""Errors of the filter language: a syntax error carries where it happened."""

from __future__ import annotations


class FilterSyntaxError(ValueError):
    """The expression does not parse. `position` is a 0-based character offset.

    The message reads like go-bexpr's (`line:column (offset): message`), so an operator
    who has seen Consul's error recognises it.
    """

    def __init__(self, expression: str, position: int, message: str) -> None:
        self.expression = expression
        self.position = position
        self.line = expression.count("\n", 0, position) + 1
        self.column = position - (expression.rfind("\n", 0, position) + 1) + 1
        self.detail = message
        super().__init__(f"{self.line}:{self.column} ({position}): {message}")


class FilterEvaluationError(ValueError):
    """The expression parsed, but cannot be applied to this object.

    go-bexpr catches these when the filter is created, because it knows the Go types;
    over plain JSON-shaped dicts the types are only known while evaluating.
    """
