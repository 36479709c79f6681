"""The regular expressions of the mesh: RE2, as Consul documents them and as Envoy runs them.

Every regex the mesh evaluates on request data or on Consul's data (service-router PathRegex and
header/query Regex, service-defaults rate-limit routes, intention PathRegex and header Regex, the
filter language's `matches`) is compiled here, so all of them share one syntax and one cost model:

- RE2 syntax, Perl flavour (what Go's regexp and Envoy's `safe_regex` accept): `\\z`, `\\pL`,
  `(?i)`; no backreferences, no lookaround. What RE2 refuses is refused with RE2's reason.
- Matching time is linear in the input (no backtracking). Its constant grows with the size of the
  compiled program, so that size is bounded (MAX_PROGRAM_SIZE), and so is the memory each regex
  may use for its DFA (MAX_MEMORY): past it RE2 falls back to its slower, still linear, NFA.
- Request data is matched as the bytes the wire carried (the mesh decodes heads as latin-1, one
  character per byte), in RE2's UTF-8 mode, as Envoy matches it; Consul's JSON strings are
  matched as their UTF-8 text, as Go's regexp does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

# RE2's "program size" (compiled instructions). `\pL+` is about 1,200 and a counted class such as
# `[A-Za-z0-9._-]{20,500}` about 2,500; matching cost per input byte is bounded by this size.
MAX_PROGRAM_SIZE = 4096
# Per regex: the program plus its DFA cache (RE2's default is 8 MiB).
MAX_MEMORY = 1 << 20
# Distinct patterns (compiled or refused) remembered across updates.
COMPILED_CACHE_SIZE = 1024


class Pattern(Protocol):
    """A compiled mesh regex: what matching code needs, whatever engine stands behind it."""

    @property
    def pattern(self) -> str:
        """The source text, as the document or intention wrote it."""
        ...

    def matches_whole(self, value: str) -> bool:
        """Whether the regex matches all of `value`, request data as the mesh decodes it (latin-1),
        as Envoy's `safe_regex` matches a path, a header or a query parameter."""
        ...

    def search_text(self, text: str) -> bool:
        """Whether the regex matches somewhere in `text`, Unicode text (Consul's JSON strings), as
        Go's `regexp.MatchString` does for the filter language's `matches`."""
        ...


class RegexError(ValueError):
    """A pattern the mesh refuses: RE2 cannot compile it, or it is too large to run cheaply."""

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"is not a valid RE2 regular expression: {reason}")


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    # Matching only answers yes or no: without capture groups RE2 can always use its DFA.
    options.never_capture = True
    # RE2 would write refusals to stderr itself; they are reported as RegexError instead.
    options.log_errors = False
    return options


_OPTIONS = _options()

# What Python's `re` (or PCRE) accepts and RE2 does not, with the hint an operator needs.
_HINTS = (
    ("invalid escape sequence: \\Z", "RE2 writes the end of the text as \\z"),
    ("invalid perl operator: (?=", "RE2 has no lookahead"),
    ("invalid perl operator: (?!", "RE2 has no lookahead"),
    ("invalid perl operator: (?<=", "RE2 has no lookbehind"),
    ("invalid perl operator: (?<!", "RE2 has no lookbehind"),
    ("invalid perl operator: (?>", "RE2 has no atomic groups"),
)


def _explain(message: str, pattern: str) -> str:
    for needle, hint in _HINTS:
        if message.startswith(needle):
            return f"{message}; {hint}"
    escape = "invalid escape sequence: \\"
    numbered = message.startswith(escape) and message[len(escape) : len(escape) + 1].isdigit()
    named = message.startswith("invalid perl operator: (?P") and "(?P=" in pattern
    if numbered or named:
        return f"{message}; RE2 has no backreferences"
    if message == "pattern too large - compile failed":
        return f"too large for the {MAX_MEMORY >> 10} KiB each regex may use"
    return message


@dataclass(frozen=True, slots=True)
class Re2Pattern:
    """A pattern compiled by RE2; equal to another with the same source text."""

    pattern: str
    _program: Any = field(compare=False, repr=False)

    def matches_whole(self, value: str) -> bool:
        return self._program.fullmatch(_wire(value)) is not None

    def search_text(self, text: str) -> bool:
        # A lone surrogate (JSON allows "\ud800") is not UTF-8; Go's decoder makes it U+FFFD.
        return self._program.search(text.encode("utf-8", "replace")) is not None

    @property
    def program_size(self) -> int:
        return int(self._program.programsize)


def _wire(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        # Not from the wire (a request described on meshctl's command line): its UTF-8 bytes.
        return value.encode("utf-8", "replace")


def compile_regex(pattern: str) -> Re2Pattern:
    """Compile `pattern` as the mesh runs it; RegexError says why it cannot be."""
    compiled = _compiled(pattern)
    if isinstance(compiled, RegexError):
        raise RegexError(compiled.pattern, compiled.reason)
    return compiled


# Every intention or document update re-reads the whole set, and compiling takes milliseconds for
# a Unicode class (about 3 ms for `\pL+`, more for a refused giant): remembered, refusals too, so an
# update compiles only the patterns it brings.
@functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(pattern: str) -> Re2Pattern | RegexError:
    try:
        program = re2.compile(pattern, _OPTIONS)
    except UnicodeEncodeError:
        return RegexError(pattern, "it is not valid Unicode text")
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "refused"
        message = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return RegexError(pattern, _explain(message, pattern))
    size = int(program.programsize)
    if size > MAX_PROGRAM_SIZE:
        reason = f"its RE2 program has {size} instructions, more than the {MAX_PROGRAM_SIZE} the mesh allows"
        return RegexError(pattern, reason)
    return Re2Pattern(pattern, program)
