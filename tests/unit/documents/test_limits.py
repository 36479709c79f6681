"""The document limits: size, JSON nesting depth and number length, checked without recursing."""

import pytest

from mesh.documents.limits import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    LimitExceeded,
    bounded_float,
    bounded_int,
    check_json_depth,
    size_problem,
)
from tests.support.hostile_documents import DEEP_JSON


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_json_nested_to_the_limit_passes_and_one_level_more_is_refused_with_its_position() -> None:
    check_json_depth(nested(MAX_DEPTH))
    with pytest.raises(LimitExceeded, match=rf"nested more than {MAX_DEPTH} levels deep at line 1, column 385$"):
        check_json_depth(nested(MAX_DEPTH + 1))


def test_100k_nested_arrays_are_refused_at_the_first_level_past_the_limit() -> None:
    with pytest.raises(LimitExceeded, match=r"at line 1, column 65$"):
        check_json_depth(DEEP_JSON)


def test_brackets_inside_strings_do_not_count_escaped_quotes_included() -> None:
    check_json_depth('{"a": "' + "[{" * 1000 + '\\"' + "[[" * 100 + '"}')


def test_an_unterminated_string_of_escapes_is_scanned_once_and_left_to_json_to_refuse() -> None:
    check_json_depth('["' + '\\"' * 200_000)  # a backtracking scan would be quadratic here


def test_the_line_and_column_count_from_one_across_lines() -> None:
    with pytest.raises(LimitExceeded, match=r"at line 3, column 2$"):
        check_json_depth("[\n" * 2 + " [", limit=2)


@pytest.mark.parametrize("literal", ["9" * 5000, "1" * 101, "1." + "0" * 99])
def test_numbers_longer_than_100_characters_are_refused_before_conversion(literal: str) -> None:
    with pytest.raises(LimitExceeded, match=rf"a number of {len(literal)} characters; at most 100 are read"):
        (bounded_float if "." in literal else bounded_int)(literal)


def test_numbers_up_to_100_characters_are_read() -> None:
    assert bounded_int("9" * 100) == int("9" * 100)
    assert bounded_float("1e308") == 1e308


def test_a_document_over_512_kib_is_a_problem_and_one_at_the_limit_is_not() -> None:
    assert size_problem(b"x" * MAX_DOCUMENT_BYTES) is None
    problem = size_problem("é" * (MAX_DOCUMENT_BYTES // 2 + 1))  # counted in UTF-8 bytes
    assert problem is not None
    assert problem.message == f"is {MAX_DOCUMENT_BYTES + 2} bytes; at most {MAX_DOCUMENT_BYTES} (512 KiB) are read"
