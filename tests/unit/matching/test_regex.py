"""The mesh's regexes are RE2, as Consul documents them: its syntax compiles, what RE2 refuses is
refused with a reason an operator can act on, and matching takes linear time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mesh.matching import RegexError, compile_regex
from mesh.matching.regex import MAX_PROGRAM_SIZE


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (r"/admin\z", "/admin", True),
        (r"\pL+", "abc", True),
        (r"\p{Greek}+", "\xce\xb1\xce\xb2", True),  # "αβ" as its UTF-8 bytes arrive, latin-1 decoded
        (r"(?i)/ADMIN", "/admin", True),
        (r"(?P<version>v[0-9]+)", "v2", True),
        (r"/v[0-9]+", "/v2/users", False),  # the whole value must match, as Envoy's safe_regex
        ("/admin$", "/admin\n", False),  # RE2's $ is the end of the text, not "before a newline"
        (r"/admin\z", "/admin\n", False),
        (r"\d+", "\u0661\u0662", False),  # \d is ASCII in RE2 (and Go)
    ],
)
def test_consul_syntax_compiles_and_means_what_re2_means(pattern: str, value: str, expected: bool) -> None:
    assert compile_regex(pattern).matches_whole(value) is expected


def test_request_data_is_matched_as_the_bytes_the_wire_carried() -> None:
    letters = compile_regex(r"\pL+")
    # "é" sent as UTF-8 (0xC3 0xA9) reaches matching as two latin-1 characters: one letter to RE2.
    assert letters.matches_whole("\xc3\xa9")
    # A lone 0xE9 byte is not UTF-8: Envoy's RE2 sees no letter in it, and neither does the mesh.
    assert not letters.matches_whole("\xe9")
    assert compile_regex("^.$").matches_whole("\xc3\xa9")


def test_filter_text_is_searched_as_unicode_text_like_go_regexp() -> None:
    version = compile_regex("^v[12]$")
    assert version.search_text("v2")
    assert not version.search_text("v3")
    assert compile_regex("ana").search_text("banana")  # unanchored, as Go's MatchString
    assert compile_regex(r"^\pL+$").search_text("café")
    assert not compile_regex("x").search_text("\ud800")  # a lone surrogate from JSON does not crash


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        (r"(a)\1", "invalid escape sequence: \\1; RE2 has no backreferences"),
        (r"(?P<x>a)(?P=x)", "RE2 has no backreferences"),
        (r"/admin(?=/)", "invalid perl operator: (?=; RE2 has no lookahead"),
        (r"/(?!internal)", "RE2 has no lookahead"),
        (r"(?<=/)admin", "RE2 has no lookbehind"),
        (r"(?<!x)admin", "RE2 has no lookbehind"),
        (r"/admin\Z", "RE2 writes the end of the text as \\z"),
        (r"(?>a+)", "RE2 has no atomic groups"),
        ("/v[0-9+", "missing ]: [0-9+"),
        ("a{1001}", "invalid repetition size"),
    ],
)
def test_what_re2_refuses_is_refused_with_the_reason(pattern: str, hint: str) -> None:
    with pytest.raises(RegexError) as refused:
        compile_regex(pattern)
    assert str(refused.value).startswith("is not a valid RE2 regular expression: ")
    assert hint in str(refused.value)
    assert refused.value.pattern == pattern


def test_a_program_too_large_to_match_cheaply_is_refused() -> None:
    compile_regex(r"\pL[\pL\pN]*")  # Unicode classes are large programs, and accepted
    with pytest.raises(RegexError, match=f"more than the {MAX_PROGRAM_SIZE} the mesh allows"):
        compile_regex(r"[ab]*a[ab]{900}[ab]{900}[ab]{900}[ab]{900}[ab]{900}c")


def test_a_pattern_that_is_not_unicode_text_is_refused() -> None:
    with pytest.raises(RegexError, match="not valid Unicode"):
        compile_regex("\ud800")


def test_compiled_patterns_compare_by_their_source_text() -> None:
    assert compile_regex("/v[0-9]+") == compile_regex("/v[0-9]+")
    assert compile_regex("/v[0-9]+") != compile_regex("/v[0-9]*")
    assert compile_regex("/v[0-9]+").pattern == "/v[0-9]+"
    assert len({compile_regex("a"), compile_regex("a")}) == 1


# Each is catastrophic for a backtracking engine: Python's `re` needs about 3 s for the first
# one and doubles that per extra "a"; 16 KiB of them would not finish in our lifetime.
BACKTRACKING = [
    (r"/(a+)+", "/" + "a" * 26 + "!"),
    (r"/(a+)+", "/" + "a" * 16384 + "!"),
    (r"(a|aa)+", "a" * 8192 + "!"),
    (r"(\w+\s?)+$", "a" * 8192 + "!"),
]


def test_matching_takes_linear_time_on_inputs_that_make_backtracking_explode() -> None:
    # In a child process, so that an engine that backtracks fails this test on the deadline
    # instead of hanging the run (a regex match holds the GIL and cannot be interrupted).
    script = (
        "from mesh.matching import compile_regex\n"
        f"for pattern, value in {BACKTRACKING!r}:\n"
        "    assert not compile_regex(pattern).matches_whole(value)\n"
        "print('done')\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert finished.stdout.strip() == "done", finished.stderr


def test_an_update_that_brings_a_known_pattern_again_reuses_it_refusals_included() -> None:
    assert compile_regex(r"\pL+x") is compile_regex(r"\pL+x")
    for _ in range(2):
        with pytest.raises(RegexError, match="RE2 has no backreferences"):
            compile_regex(r"(b)\1")
