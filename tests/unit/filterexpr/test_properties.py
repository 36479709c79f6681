"""Properties of the filter language that must hold for any expression and object."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mesh.filterexpr import And, Expression, FilterSyntaxError, Match, MatchOp, Not, Or, Selector, compile_filter
from mesh.filterexpr.parser import parse

NAMES = st.sampled_from(["a", "b", "Meta", "Tags", "x_1"])
WORDS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=8)

selectors = st.lists(NAMES, min_size=1, max_size=3).map(lambda p: Selector(tuple(p)))
matches_ = st.one_of(
    st.builds(Match, selectors, st.sampled_from([MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.IN, MatchOp.NOT_IN]), WORDS),
    st.builds(Match, selectors, st.sampled_from([MatchOp.IS_EMPTY, MatchOp.IS_NOT_EMPTY])),
)
expressions: st.SearchStrategy[Expression] = st.recursive(
    matches_,
    lambda inner: st.one_of(
        st.builds(Not, inner.filter(lambda e: not isinstance(e, Not))),
        st.builds(And, inner, inner),
        st.builds(Or, inner, inner),
    ),
    max_leaves=6,
)
# Objects shaped like the selectors above: strings, lists of strings, maps, or nothing.
leaves = st.one_of(st.none(), WORDS, st.lists(WORDS, max_size=3))
objects: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(NAMES, leaves, max_size=4),
    lambda inner: st.dictionaries(NAMES, st.one_of(leaves, inner), max_size=4),
    max_leaves=8,
)


def _safe(expr: Expression, obj: dict[str, Any]) -> bool | None:
    """The result, or None when the expression does not apply to this object's types."""
    try:
        return compile_filter(str(expr)).matches(obj)
    except ValueError:
        return None


@given(expressions)
def test_printing_and_parsing_again_gives_the_same_tree(expr: Expression) -> None:
    printed = str(expr)
    assert parse(printed) == parse(str(parse(printed)))


@given(expressions, objects)
def test_not_negates(expr: Expression, obj: dict[str, Any]) -> None:
    result = _safe(expr, obj)
    if result is not None:
        assert _safe(Not(expr), obj) is (not result)


@given(expressions, expressions, objects)
def test_de_morgan(left: Expression, right: Expression, obj: dict[str, Any]) -> None:
    lhs = _safe(Not(Or(left, right)), obj)
    rhs = _safe(And(Not(left), Not(right)), obj)
    if lhs is not None and rhs is not None:
        assert lhs == rhs


@given(st.lists(WORDS, max_size=4), WORDS)
def test_in_is_list_membership(tags: list[str], tag: str) -> None:
    flt = compile_filter(f"{Match(Selector(('Tags',)), MatchOp.IN, tag)}")
    assert flt.matches({"Tags": tags}) is (tag in tags)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_fails_with_a_positioned_syntax_error(text: str) -> None:
    error: FilterSyntaxError | None = None
    try:
        compile_filter(text)
    except FilterSyntaxError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.position <= len(text)
