"""A recursive-descent parser for go-bexpr's grammar (the PEG Consul's `filter=` uses).

The grammar is followed rule for rule, including its quirks, so that an expression
Consul accepts parses here and one it refuses is refused here:

- `and`, `or`, `not`, `in`, `contains`, `matches`, `is empty` need whitespace around them
  (`not(a == b)` is an error); `==` and `!=` do not;
- an unquoted value is a selector-shaped word (`v2`, `a.b`); anything else (`1.2.3`,
  `host-name`) must be quoted with "..." (Go escapes) or `...` (raw);
- `x or y or z` and `x and y and z` nest to the right; `not not x` is `x`.

On failure the error names the farthest position reached and what was expected
there, as the PEG generator behind go-bexpr reports it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from mesh.filterexpr.ast import And, Expression, Match, MatchOp, Not, Or, Selector
from mesh.filterexpr.errors import FilterSyntaxError
from mesh.filterexpr.strings import decode_go_escapes

_WS = " \t\r\n"
_IDENT_FIRST = re.compile(r"[A-Za-z]")
_IDENT_REST = re.compile(r"[A-Za-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")

# Operators tried after a selector, in the grammar's order; each is (op, keywords).
# `==`/`!=` take optional whitespace, the word operators need it on both sides.
_SELECTOR_FIRST_OPS: tuple[tuple[MatchOp, tuple[str, ...]], ...] = (
    (MatchOp.EQUAL, ("==",)),
    (MatchOp.NOT_EQUAL, ("!=",)),
    (MatchOp.IN, ("contains",)),
    (MatchOp.NOT_IN, ("not", "contains")),
    (MatchOp.MATCHES, ("matches",)),
    (MatchOp.NOT_MATCHES, ("not", "matches")),
)
_EMPTINESS_OPS: tuple[tuple[MatchOp, tuple[str, ...]], ...] = (
    (MatchOp.IS_EMPTY, ("is", "empty")),
    (MatchOp.IS_NOT_EMPTY, ("is", "not", "empty")),
)
_VALUE_FIRST_OPS: tuple[tuple[MatchOp, tuple[str, ...]], ...] = (
    (MatchOp.IN, ("in",)),
    (MatchOp.NOT_IN, ("not", "in")),
)


# How deep and/or chains, `not`s and parentheses may nest, counted in parser rules entered
# (an operand of a chain, a `not`, a parenthesis each enter one or more). The parser and the
# evaluator recurse once per level: unbounded, a long `or` chain or `((((...` from a KV
# document or a `filter=` parameter raised RecursionError wherever the stack already was.
MAX_NESTING = 256

_Rule = Callable[["_Parser", int], "tuple[Expression, int] | None"]


def _nested(rule: _Rule) -> _Rule:
    @functools.wraps(rule)
    def entered(self: _Parser, pos: int) -> tuple[Expression, int] | None:
        if self._depth >= MAX_NESTING:
            levels = f"more than {MAX_NESTING} levels of and, or, not and parentheses"
            raise self._error(pos, f"the expression nests too deeply ({levels})")
        self._depth += 1
        try:
            return rule(self, pos)
        finally:
            self._depth -= 1

    return entered


def parse(text: str) -> Expression:
    """Parse one expression; raise FilterSyntaxError with the position on failure."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self._fail_pos = -1
        self._expected: set[str] = set()
        self._depth = 0

    # -- failure bookkeeping -------------------------------------------------------

    def _expect(self, pos: int, what: str) -> None:
        if pos > self._fail_pos:
            self._fail_pos = pos
            self._expected = {what}
        elif pos == self._fail_pos:
            self._expected.add(what)

    def _error(self, pos: int, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.text, pos, message)

    def _no_match(self) -> FilterSyntaxError:
        expected = sorted(self._expected)
        if len(expected) > 1:
            listed = ", ".join(expected[:-1]) + " or " + expected[-1]
        else:
            listed = expected[0] if expected else "nothing"
        return self._error(max(self._fail_pos, 0), f"no match found, expected: {listed}")

    # -- terminals -----------------------------------------------------------------

    def _literal(self, pos: int, word: str) -> int | None:
        if self.text.startswith(word, pos):
            return pos + len(word)
        self._expect(pos, f'"{word}"')
        return None

    def _ws(self, pos: int) -> int | None:
        """One or more whitespace characters (the grammar's `_`)."""
        end = pos
        while end < len(self.text) and self.text[end] in _WS:
            end += 1
        if end == pos:
            self._expect(pos, "[ \\t\\r\\n]")
            return None
        return end

    def _ws_opt(self, pos: int) -> int:
        return self._ws(pos) or pos

    def _eof(self, pos: int) -> bool:
        if pos >= len(self.text):
            return True
        self._expect(pos, "EOF")
        return False

    # -- expressions ---------------------------------------------------------------

    def parse(self) -> Expression:
        pos = self._ws_opt(0)
        result = self._or(pos)
        if result is not None:
            expr, end = result
            end = self._ws_opt(end)
            if self._eof(end):
                return expr
        raise self._no_match()

    @_nested
    def _or(self, pos: int) -> tuple[Expression, int] | None:
        left = self._and(pos)
        if left is None:
            return None
        rest = self._keyword_then(left[1], ("or",))
        if rest is not None:
            right = self._or(rest)
            if right is not None:
                return Or(left[0], right[0]), right[1]
        return left

    @_nested
    def _and(self, pos: int) -> tuple[Expression, int] | None:
        left = self._not(pos)
        if left is None:
            return None
        rest = self._keyword_then(left[1], ("and",))
        if rest is not None:
            right = self._and(rest)
            if right is not None:
                return And(left[0], right[0]), right[1]
        return left

    @_nested
    def _not(self, pos: int) -> tuple[Expression, int] | None:
        after = self._literal(pos, "not")
        if after is not None:
            operand_pos = self._ws(after)
            if operand_pos is not None:
                operand = self._not(operand_pos)
                if operand is not None:
                    expr, end = operand
                    return (expr.operand if isinstance(expr, Not) else Not(expr)), end
        return self._parenthesized(pos)

    def _parenthesized(self, pos: int) -> tuple[Expression, int] | None:
        after_open = self._literal(pos, "(")
        inner: tuple[Expression, int] | None = None
        close_pos = pos
        if after_open is not None:
            inner = self._or(self._ws_opt(after_open))
            if inner is not None:
                close_pos = self._ws_opt(inner[1])
                end = self._literal(close_pos, ")")
                if end is not None:
                    return inner[0], end
        match = self._match(pos)
        if match is not None:
            return match
        if inner is not None:
            raise self._error(close_pos, "Unmatched parentheses")
        return None

    # -- match expressions ---------------------------------------------------------

    def _match(self, pos: int) -> tuple[Expression, int] | None:
        selector = self._selector(pos)
        if selector is not None:
            sel, after_sel = selector
            for op, words in _SELECTOR_FIRST_OPS:
                value_pos = self._operator(after_sel, op, words)
                if value_pos is None:
                    continue
                value = self._value(value_pos)
                if value is None:
                    break
                return Match(sel, op, value[0]), value[1]
            for op, words in _EMPTINESS_OPS:
                end = self._keyword_sequence(after_sel, words)
                if end is not None:
                    return Match(sel, op, None), end
        value = self._value(pos)
        if value is not None:
            raw, after_value = value
            for op, words in _VALUE_FIRST_OPS:
                sel_pos = self._keyword_then(after_value, words)
                if sel_pos is None:
                    continue
                target = self._selector(sel_pos)
                if target is None:
                    raise self._error(sel_pos, "Invalid selector")
                return Match(target[0], op, raw), target[1]
        return None

    def _operator(self, pos: int, op: MatchOp, words: tuple[str, ...]) -> int | None:
        if op in (MatchOp.EQUAL, MatchOp.NOT_EQUAL):
            end = self._literal(self._ws_opt(pos), words[0])
            return None if end is None else self._ws_opt(end)
        return self._keyword_then(pos, words)

    def _keyword_sequence(self, pos: int, words: tuple[str, ...]) -> int | None:
        """`_ w1 _ w2 ...`: each word preceded by mandatory whitespace."""
        cur: int | None = pos
        for word in words:
            assert cur is not None
            cur = self._ws(cur)
            if cur is None:
                return None
            cur = self._literal(cur, word)
            if cur is None:
                return None
        return cur

    def _keyword_then(self, pos: int, words: tuple[str, ...]) -> int | None:
        """`_ w1 _ ... wn _`: the keyword sequence followed by mandatory whitespace."""
        end = self._keyword_sequence(pos, words)
        return None if end is None else self._ws(end)

    # -- selectors and values ------------------------------------------------------

    def _identifier(self, pos: int) -> tuple[str, int] | None:
        if pos < len(self.text) and _IDENT_FIRST.match(self.text, pos):
            rest = _IDENT_REST.match(self.text, pos + 1)
            end = rest.end() if rest else pos + 1
            return self.text[pos:end], end
        self._expect(pos, "[a-zA-Z]")
        return None

    def _selector(self, pos: int) -> tuple[Selector, int] | None:
        first = self._identifier(pos)
        if first is None:
            return None
        path = [first[0]]
        cur = first[1]
        while True:
            part = self._selector_part(cur)
            if part is None:
                return Selector(tuple(path)), cur
            path.append(part[0])
            cur = part[1]

    def _selector_part(self, pos: int) -> tuple[str, int] | None:
        after_dot = self._literal(pos, ".")
        if after_dot is not None:
            ident = self._identifier(after_dot)
            if ident is not None:
                return ident
        index = self._index(pos)
        if index is not None:
            return index
        if after_dot is not None:
            digits = _DIGITS.match(self.text, after_dot)
            if digits:
                return digits.group(), digits.end()
            self._expect(after_dot, "[0-9]")
        return None

    def _index(self, pos: int) -> tuple[str, int] | None:
        after_open = self._literal(pos, "[")
        if after_open is None:
            return None
        lit_pos = self._ws_opt(after_open)
        literal = self._string(lit_pos)
        if literal is None:
            raise self._error(lit_pos, "Invalid index")
        close_pos = self._ws_opt(literal[1])
        end = self._literal(close_pos, "]")
        if end is None:
            raise self._error(close_pos, "Unclosed index expression")
        return literal[0], end

    def _value(self, pos: int) -> tuple[str, int] | None:
        selector = self._selector(pos)
        if selector is not None:
            return ".".join(selector[0].path), selector[1]
        number = self._number(pos)
        if number is not None:
            return number
        return self._string(pos)

    def _number(self, pos: int) -> tuple[str, int] | None:
        found = _NUMBER.match(self.text, pos)
        if not found:
            self._expect(pos, "[0-9]" if self.text.startswith("-", pos) else '"-"')
            return None
        end = found.end()
        if end < len(self.text) and self.text[end] not in _WS + ")":
            raise self._error(pos, "Invalid number literal")
        return found.group(), end

    def _string(self, pos: int) -> tuple[str, int] | None:
        if self.text.startswith("`", pos):
            close = self.text.find("`", pos + 1)
            if close < 0:
                raise self._error(pos, "Unterminated string literal")
            return self.text[pos + 1 : close].replace("\r", ""), close + 1
        if self.text.startswith('"', pos):
            end = pos + 1
            while end < len(self.text) and self.text[end] != '"':
                end += 2 if self.text[end] == "\\" else 1
            if end >= len(self.text):
                raise self._error(pos, "Unterminated string literal")
            try:
                return decode_go_escapes(self.text[pos + 1 : end]), end + 1
            except ValueError as exc:
                raise self._error(pos, str(exc)) from None
        self._expect(pos, '"\\""')
        self._expect(pos, '"`"')
        return None
