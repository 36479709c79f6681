"""Parsing Consul filter expressions: what go-bexpr accepts, refuses, and where it says so."""

from __future__ import annotations

import pytest

from mesh.filterexpr import And, FilterSyntaxError, Match, MatchOp, Not, Or, Selector, compile_filter
from mesh.filterexpr.parser import parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Service.Meta.version == v2", Match(Selector(("Service", "Meta", "version")), MatchOp.EQUAL, "v2")),
        ("Service.Port==8080", Match(Selector(("Service", "Port")), MatchOp.EQUAL, "8080")),
        ('Node.Node != "host-1"', Match(Selector(("Node", "Node")), MatchOp.NOT_EQUAL, "host-1")),
        ("Service.Tags contains v2", Match(Selector(("Service", "Tags")), MatchOp.IN, "v2")),
        ("Service.Tags not contains v2", Match(Selector(("Service", "Tags")), MatchOp.NOT_IN, "v2")),
        ('"v2" in Service.Tags', Match(Selector(("Service", "Tags")), MatchOp.IN, "v2")),
        ("v2 not in Service.Tags", Match(Selector(("Service", "Tags")), MatchOp.NOT_IN, "v2")),
        ("Service.Meta is empty", Match(Selector(("Service", "Meta")), MatchOp.IS_EMPTY)),
        ("Service.Meta is not empty", Match(Selector(("Service", "Meta")), MatchOp.IS_NOT_EMPTY)),
        ("Service.Service matches `^web-`", Match(Selector(("Service", "Service")), MatchOp.MATCHES, "^web-")),
        ('Service.ID not matches "\\\\d+"', Match(Selector(("Service", "ID")), MatchOp.NOT_MATCHES, "\\d+")),
        ('Service.Meta["team-name"] == ops', Match(Selector(("Service", "Meta", "team-name")), MatchOp.EQUAL, "ops")),
        ("Weight == -1.5", Match(Selector(("Weight",)), MatchOp.EQUAL, "-1.5")),
        ("Kind == a.b", Match(Selector(("Kind",)), MatchOp.EQUAL, "a.b")),
    ],
)
def test_match_expressions_parse_to_selector_operator_value(text: str, expected: Match) -> None:
    assert parse(text) == expected


def test_a_selector_may_start_with_a_keyword() -> None:
    assert parse("notes == x") == Match(Selector(("notes",)), MatchOp.EQUAL, "x")


def test_or_binds_looser_than_and_and_both_nest_to_the_right() -> None:
    a, b, c = (Match(Selector((n,)), MatchOp.EQUAL, "1") for n in "abc")
    assert parse("a == 1 or b == 1 and c == 1") == Or(a, And(b, c))
    assert parse("a == 1 or b == 1 or c == 1") == Or(a, Or(b, c))
    assert parse("(a == 1 or b == 1) and c == 1") == And(Or(a, b), c)


def test_not_applies_to_the_next_term_and_double_negation_cancels() -> None:
    a = Match(Selector(("a",)), MatchOp.EQUAL, "1")
    assert parse("not a == 1") == Not(a)
    assert parse("not not a == 1") == a
    assert parse("not (a == 1)") == Not(a)


def test_double_quoted_strings_take_go_escapes_and_backquoted_are_raw() -> None:
    assert parse('x == "tab\\there \\u00e9"') == Match(Selector(("x",)), MatchOp.EQUAL, "tab\there é")
    assert parse("x == `tab\\there`") == Match(Selector(("x",)), MatchOp.EQUAL, "tab\\there")


def test_surrounding_whitespace_and_parentheses_are_fine() -> None:
    assert parse("  ( a == 1 )\n") == Match(Selector(("a",)), MatchOp.EQUAL, "1")


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("Node==host-name", 10, "no match found"),  # unquoted values cannot hold "-"
        ("not(a == 1)", 3, "no match found"),  # keywords need whitespace
        ("a == 1 or(b == 1)", 9, "no match found"),
        ("a == 1.2.3", 5, "Invalid number literal"),
        ("(a == 1", 7, "Unmatched parentheses"),
        ('a == "open', 5, "Unterminated string literal"),
        ("a[", 2, "Invalid index"),
        ('a["k" == 1', 6, "Unclosed index expression"),
        ("v2 in 9", 6, "Invalid selector"),
        ("a ==", 4, "no match found"),
        ("", 0, "no match found"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        parse(text)
    assert raised.value.position == position
    assert fragment in str(raised.value)
    assert str(raised.value).startswith(f"1:{position + 1} ({position}): ")


def test_an_error_on_a_later_line_reports_line_and_column() -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        parse("a == 1 and\n  b == host-name")
    assert (raised.value.line, raised.value.column) == (2, 12)


def test_a_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no match found"):
        compile_filter("a =")


def test_an_invalid_regular_expression_is_a_syntax_error() -> None:
    with pytest.raises(FilterSyntaxError, match="regular expression"):
        compile_filter('Service.ID matches "("')


def test_the_ast_prints_back_to_an_equivalent_expression() -> None:
    text = 'not (Service.Meta["a-b"] == "x y") and ("v2" in Service.Tags or Checks is empty)'
    tree = parse(text)
    assert parse(str(tree)) == tree


def _at_depth(frames: int, call: object) -> object:
    """Run `call` with `frames` Python frames already on the stack (as on a busy event loop)."""
    if frames == 0:
        return call()  # type: ignore[operator]
    return _at_depth(frames - 1, call)


@pytest.mark.parametrize(
    "text",
    [
        " or ".join(["Service.Meta.v == x"] * 950),
        " and ".join(["Service.Meta.v == x"] * 950),
        "(" * 400 + "Service.Meta.v == x" + ")" * 400,
        "not " * 900 + "Service.Meta.v == x",
    ],
    ids=["or-chain", "and-chain", "parentheses", "nots"],
)
def test_an_expression_nested_past_the_bound_is_a_syntax_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(FilterSyntaxError, match="nests too deeply"):
        _at_depth(200, lambda: compile_filter(text))


def test_an_expression_just_within_the_bound_parses_and_evaluates_deep_in_a_stack() -> None:
    chain = compile_filter(" or ".join(["Service.Meta.v == x"] * 200) + " or Service.Meta.v == y")
    assert _at_depth(200, lambda: chain.matches({"Service": {"Meta": {"v": "y"}}})) is True
