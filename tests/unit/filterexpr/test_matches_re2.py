"""`matches` takes Go's regexp syntax (RE2) as go-bexpr does, for subset filters and for the Consul
stand-in's `?filter=`: what Go accepts compiles, what it refuses is a syntax error, and a
hostile filter or value cannot make evaluation backtrack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mesh.filterexpr import FilterSyntaxError, compile_filter


def test_go_syntax_compiles_and_searches_anywhere_in_the_value() -> None:
    entry = {"Service": {"ID": "web-12", "Meta": {"name": "café"}}}
    assert compile_filter(r'Service.ID matches "\\pN+\\z"').matches(entry)
    assert compile_filter('Service.ID matches "b-1"').matches(entry)  # a search, as MatchString
    assert compile_filter(r'Service.Meta.name matches "^\\pL+$"').matches(entry)
    assert not compile_filter('Service.ID matches "^api"').matches(entry)


@pytest.mark.parametrize(
    ("expression", "hint"),
    [
        (r'Service.ID matches "(a)\\1"', "RE2 has no backreferences"),
        (r'Service.ID matches "web(?=-)"', "RE2 has no lookahead"),
    ],
)
def test_what_go_regexp_refuses_is_a_syntax_error_saying_why(expression: str, hint: str) -> None:
    with pytest.raises(FilterSyntaxError, match="Failed to compile regular expression") as refused:
        compile_filter(expression)
    assert hint in str(refused.value)


def test_a_backtracking_pattern_over_a_long_value_is_answered() -> None:
    # In a child process: a backtracking engine would hold the GIL for ever, so this fails on the
    # deadline instead of hanging the run.
    script = (
        "from mesh.filterexpr import compile_filter\n"
        "hostile = compile_filter('Service.ID matches \"^(a+)+$\"')\n"
        "print(hostile.matches({'Service': {'ID': 'a' * 16384 + '!'}}))\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert finished.stdout.strip() == "False", finished.stderr
