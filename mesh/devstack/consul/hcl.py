"""A strict parser for the subset of HCL that Consul's ACL rules are written in (pure).

    key_prefix "" { policy = "deny" }      # a block: an identifier, string labels, a body
    key "app/config" {                     // nested bodies and comments of the three kinds
      policy = "write"                     /* assignments of strings, numbers, booleans */
    }
    operator = "read"

The result is what HCL 1 (which Consul uses) decodes the same text to, written as Consul's
JSON rules form: a block's labels become nested objects, so the text above is
`{"key_prefix": {"": {"policy": "deny"}}, "key": {"app/config": {"policy": "write"}}, "operator": "read"}`.
Anything else (a second definition of the same key, an unterminated string, a stray token,
commas, lists, heredocs, interpolation) is an HCLError naming the line and column, rather
than a guess: a rule that does not mean what its author thought is worse than a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"}
MAX_DEPTH = 16


class HCLError(ValueError):
    """Where and why the text is not the HCL subset: `line:col: reason`."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # "ident", "string", "number", "{", "}", "=", "eof"
    text: str
    line: int
    col: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, line, line_start = 0, 1, 0
    n = len(text)

    def where(pos: int) -> tuple[int, int]:
        return line, pos - line_start + 1

    while i < n:
        ch = text[i]
        if ch == "\n":
            i += 1
            line, line_start = line + 1, i
            continue
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise HCLError("{}:{}: comment not terminated".format(*where(i)))
            for pos in range(i, end):
                if text[pos] == "\n":
                    line, line_start = line + 1, pos + 1
            i = end + 2
            continue
        ln, col = where(i)
        if ch in "{}=":
            out.append(_Tok(ch, ch, ln, col))
            i += 1
            continue
        if ch == '"':
            value, i = _string(text, i, ln, col)
            out.append(_Tok("string", value, ln, col))
            continue
        m = _IDENT.match(text, i) or _NUMBER.match(text, i)
        if m is None:
            raise HCLError(f"{ln}:{col}: unexpected character {ch!r}")
        kind = "ident" if m.re is _IDENT else "number"
        out.append(_Tok(kind, m.group(), ln, col))
        i = m.end()
    ln, col = where(i)
    out.append(_Tok("eof", "", ln, col))
    return out


def _string(text: str, start: int, ln: int, col: int) -> tuple[str, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(chars), i + 1
        if ch == "\n":
            break
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                raise HCLError(f"{ln}:{col}: unknown escape \\{nxt} in string")
            chars.append(_ESCAPES[nxt])
            i += 2
            continue
        if text.startswith("${", i):
            raise HCLError(f"{ln}:{col}: interpolation is not allowed in ACL rules")
        chars.append(ch)
        i += 1
    raise HCLError(f"{ln}:{col}: string not terminated")


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self._toks = tokens
        self._at = 0

    def _peek(self) -> _Tok:
        return self._toks[self._at]

    def _take(self, kind: str, what: str) -> _Tok:
        tok = self._peek()
        if tok.kind != kind:
            found = "end of input" if tok.kind == "eof" else repr(tok.text)
            raise HCLError(f"{tok.line}:{tok.col}: expected {what}, found {found}")
        self._at += 1
        return tok

    def body(self, closing: str, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            tok = self._peek()
            raise HCLError(f"{tok.line}:{tok.col}: blocks nested deeper than {MAX_DEPTH}")
        out: dict[str, Any] = {}
        while self._peek().kind != closing:
            key = self._peek()
            if key.kind not in ("ident", "string"):
                self._take("ident", "a key" + (" or '}'" if closing == "}" else ""))
            self._at += 1
            labels: list[_Tok] = []
            while self._peek().kind == "string":
                labels.append(self._take("string", "a label"))
            if not labels and self._peek().kind == "=":
                self._at += 1
                _set(out, [key], self.value(depth))
                continue
            self._take("{", "'=' or '{'" if not labels else "'{'")
            block = self.body("}", depth + 1)
            self._take("}", "'}'")
            _set(out, [key, *labels], block)
        return out

    def value(self, depth: int) -> Any:
        tok = self._peek()
        if tok.kind == "string":
            self._at += 1
            return tok.text
        if tok.kind == "number":
            self._at += 1
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "ident" and tok.text in ("true", "false"):
            self._at += 1
            return tok.text == "true"
        if tok.kind == "{":
            self._at += 1
            block = self.body("}", depth + 1)
            self._take("}", "'}'")
            return block
        raise HCLError(f"{tok.line}:{tok.col}: expected a string, number, boolean or block after '='")


def _set(out: dict[str, Any], path: list[_Tok], value: Any) -> None:
    """Put `value` at the nested path; defining the same path twice is an error, not a merge."""
    target = out
    for tok in path[:-1]:
        existing = target.setdefault(tok.text, {})
        if not isinstance(existing, dict):
            raise HCLError(f"{tok.line}:{tok.col}: {tok.text!r} is already set to a value")
        target = existing
    last = path[-1]
    if last.text in target:
        shown = " ".join(f'"{t.text}"' if i else t.text for i, t in enumerate(path))
        raise HCLError(f"{last.line}:{last.col}: {shown} is defined twice")
    target[last.text] = value


def parse(text: str) -> dict[str, Any]:
    """The HCL text as nested dicts (see the module docstring); HCLError if it is not the subset."""
    parser = _Parser(_tokens(text))
    result = parser.body("eof", 0)
    parser._take("eof", "end of input")
    return result
