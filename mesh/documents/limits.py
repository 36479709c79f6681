"""Bounds on an operator-written document, checked before a parser can be hurt by it.

The parsers recurse once per nesting level (json, PyYAML's composer and constructor), YAML
aliases expand without a bound, and Python refuses `int(str)` past 4,300 digits with a
ValueError: each of these once escaped from one hostile KV document as an exception that ended
every agent or refused the whole listing (issue 12). Within these bounds reading a document is
linear in its size, and what is beyond them is a problem of that document alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mesh.errors import Problem

# Consul's default `kv_max_value_size`: a default Consul cannot store a longer value anyway.
MAX_DOCUMENT_BYTES = 512 * 1024
# The deepest traffic document is about 7 levels (Routes[].Match.HTTP.Header[].Exact), the
# agent config about 5, the persisted snapshot about 10: 64 leaves room and bounds recursion.
MAX_DEPTH = 64
# Consul's numbers are int64 or float64 (at most 20 digits, or ~25 characters with an exponent);
# a longer literal is a mistake or an attack, and converting one costs more than it is worth.
MAX_NUMBER_CHARS = 100


class LimitExceeded(ValueError):
    """The text goes beyond one of the bounds above; the message says which and where."""


def size_problem(raw: str | bytes, limit: int = MAX_DOCUMENT_BYTES) -> Problem | None:
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size <= limit:
        return None
    return Problem("", f"is {size} bytes; at most {limit} ({limit // 1024} KiB) are read")


# A JSON string (to its closing quote, or to the end when unterminated, so that no match ever
# backtracks) or one bracket: brackets outside strings are the whole of JSON's nesting.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def check_json_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Raise LimitExceeded when JSON `text` nests deeper than `limit`, without recursing.

    Only brackets are counted: whether the text is valid JSON is json.loads' business after.
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                raise LimitExceeded(f"nested more than {limit} levels deep at {position(text, match.start())}")
        elif char in "]}":
            depth -= 1


def load_json(text: str, **hooks: Any) -> Any:
    """`json.loads` within the limits: the depth checked before it recurses, numbers bounded.
    Raises LimitExceeded or json's own ValueError."""
    check_json_depth(text)
    return json.loads(text, parse_int=bounded_int, parse_float=bounded_float, **hooks)


def number_problem(literal: str) -> str | None:
    """Why a number written as `literal` is not read (None when it may be)."""
    if len(literal) <= MAX_NUMBER_CHARS:
        return None
    return f"a number of {len(literal)} characters; at most {MAX_NUMBER_CHARS} are read"


def bounded_int(literal: str) -> int:
    """json.loads' `parse_int`: the number, or LimitExceeded for an absurdly long one."""
    problem = number_problem(literal)
    if problem is not None:
        raise LimitExceeded(problem)
    return int(literal)


def bounded_float(literal: str) -> float:
    """json.loads' `parse_float`, bounded as `bounded_int`."""
    problem = number_problem(literal)
    if problem is not None:
        raise LimitExceeded(problem)
    return float(literal)


def position(text: str, offset: int) -> str:
    """`line L, column C` (both from 1) of `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"
