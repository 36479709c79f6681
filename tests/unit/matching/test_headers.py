"""The header condition routes and L7 intentions share; the intentions' and routing's own tests
specify the common cases through their documents, these the corners they cannot reach."""

from __future__ import annotations

import pytest

from mesh.matching import HeaderMatch, compile_regex, header_matches


@pytest.mark.parametrize("value", ["1", "", None])
@pytest.mark.parametrize("invert", [False, True])
def test_a_clause_with_no_condition_holds_for_every_request(value: str | None, invert: bool) -> None:
    # Consul leaves such a clause out of the Envoy config it generates (an intention may carry one).
    assert header_matches(HeaderMatch("x-canary", invert=invert), value)


@pytest.mark.parametrize(
    "clause",
    [
        HeaderMatch("x", exact="1", invert=True),
        HeaderMatch("x", prefix="a", invert=True),
        HeaderMatch("x", suffix="a", invert=True),
        HeaderMatch("x", regex=compile_regex("a"), invert=True),
    ],
    ids=["exact", "prefix", "suffix", "regex"],
)
def test_an_inverted_value_condition_still_needs_the_header(clause: HeaderMatch) -> None:
    assert not header_matches(clause, None)
    assert header_matches(clause, "zzz")


def test_an_inverted_present_means_absent() -> None:
    absent = HeaderMatch("x", present=True, invert=True)
    assert header_matches(absent, None)
    assert not header_matches(absent, "")
