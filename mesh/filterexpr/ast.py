"""The syntax tree of a filter expression: plain frozen values, printable back to source."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class MatchOp(enum.Enum):
    """The match operators, spelled as the expression language spells them."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    IN = "in"  # `contains` is the same operation written selector-first
    NOT_IN = "not in"
    IS_EMPTY = "is empty"
    IS_NOT_EMPTY = "is not empty"
    MATCHES = "matches"
    NOT_MATCHES = "not matches"

    @property
    def negated(self) -> bool:
        return self in (MatchOp.NOT_EQUAL, MatchOp.NOT_IN, MatchOp.IS_NOT_EMPTY, MatchOp.NOT_MATCHES)

    @property
    def positive(self) -> MatchOp:
        """The operator this one negates (or itself when it is not a negation)."""
        return _POSITIVE.get(self, self)


_POSITIVE = {
    MatchOp.NOT_EQUAL: MatchOp.EQUAL,
    MatchOp.NOT_IN: MatchOp.IN,
    MatchOp.IS_NOT_EMPTY: MatchOp.IS_EMPTY,
    MatchOp.NOT_MATCHES: MatchOp.MATCHES,
}


@dataclass(frozen=True, slots=True)
class Selector:
    """A path into the object: `Service.Meta.version` is ("Service", "Meta", "version")."""

    path: tuple[str, ...]

    def __str__(self) -> str:
        out = self.path[0]
        for part in self.path[1:]:
            out += f".{part}" if _IDENTIFIER.fullmatch(part) or part.isdigit() else f"[{json.dumps(part)}]"
        return out


@dataclass(frozen=True, slots=True)
class Match:
    """`selector op value`; `value` is None for the emptiness operators."""

    selector: Selector
    op: MatchOp
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.selector} {self.op.value}"
        literal = json.dumps(self.value)
        if self.op in (MatchOp.IN, MatchOp.NOT_IN):
            return f"{literal} {self.op.value} {self.selector}"
        return f"{self.selector} {self.op.value} {literal}"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expression

    def __str__(self) -> str:
        return f"not ({self.operand})"


@dataclass(frozen=True, slots=True)
class And:
    left: Expression
    right: Expression

    def __str__(self) -> str:
        return f"({self.left}) and ({self.right})"


@dataclass(frozen=True, slots=True)
class Or:
    left: Expression
    right: Expression

    def __str__(self) -> str:
        return f"({self.left}) or ({self.right})"


Expression = Match | Not | And | Or
