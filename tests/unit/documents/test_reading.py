"""Strict YAML reading within the limits: hostile text is one problem with its position, never
an exception, a recursion or an expansion (the agent config and KV documents share this reader)."""

import pytest

from mesh.config.load import parse_config
from mesh.documents.limits import MAX_DEPTH, MAX_DOCUMENT_BYTES
from mesh.documents.reading import parse_yaml
from mesh.errors import InvalidDocument
from tests.support.hostile_documents import ALIAS_BOMB, DEEP_YAML, DEEP_YAML_FLOW_MAPPING


def problem_of(text: str | bytes) -> str:
    value, problems = parse_yaml(text)
    assert value is None
    assert len(problems) == 1
    assert problems[0].path == ""
    return problems[0].message


def block_nested(depth: int) -> str:
    return "".join(f"{'  ' * level}k:\n" for level in range(depth)) + "  " * depth + "v: 1\n"


@pytest.mark.parametrize("text", [DEEP_YAML, DEEP_YAML_FLOW_MAPPING], ids=["flow in block", "flow mapping"])
def test_100k_levels_of_flow_nesting_are_refused_as_too_deep(text: str) -> None:
    assert problem_of(text).endswith(f"nested more than {MAX_DEPTH} levels deep")


def test_block_nesting_to_the_limit_is_read_and_one_level_more_is_refused_where_it_starts() -> None:
    value, problems = parse_yaml(block_nested(MAX_DEPTH - 1))
    assert problems == []
    assert isinstance(value, dict)
    assert (
        problem_of(block_nested(MAX_DEPTH))
        == f"invalid YAML at line 65, column 129: nested more than {MAX_DEPTH} levels deep"
    )


def test_the_alias_bomb_is_refused_at_its_first_anchor() -> None:
    assert problem_of(ALIAS_BOMB) == (
        "invalid YAML at line 1, column 5: anchors (&l0) and aliases are not supported; write the value out in full"
    )


@pytest.mark.parametrize("text", ["a: *x\n", "base: {Protocol: http}\nother:\n  <<: *base\n"])
def test_an_alias_is_refused_even_without_its_anchor(text: str) -> None:
    assert "aliases" in problem_of(text)
    assert "not supported" in problem_of(text)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("n: " + "9" * 5000, 5000),
        ("n: 1." + "5" * 200, 202),
        ("n: " + "1:" * 100 + "1", 201),
        ("n: !!int '" + "7" * 101 + "'", 101),
    ],
    ids=["5000-digit integer", "long float", "long sexagesimal", "tagged string"],
)
def test_numbers_longer_than_100_characters_are_refused_with_their_position(text: str, length: int) -> None:
    assert (
        problem_of(text) == f"invalid YAML at line 1, column 4: a number of {length} characters; at most 100 are read"
    )


def test_a_value_the_constructor_cannot_build_is_a_problem_of_the_text() -> None:
    assert problem_of("when: 2001-02-31\n").startswith(
        "invalid YAML at line 1, column 7: cannot read this value: day is out"
    )


def test_a_collection_as_a_key_is_a_problem_not_an_exception() -> None:
    assert problem_of("? [a, b]\n: c\n") == "invalid YAML at line 1, column 3: a key must be a string, not a collection"


def test_text_over_512_kib_is_not_parsed() -> None:
    text = b"a: 1\n" * (MAX_DOCUMENT_BYTES // 5 + 1)
    assert problem_of(text) == f"is {len(text)} bytes; at most {MAX_DOCUMENT_BYTES} (512 KiB) are read"


def test_the_agent_config_file_gets_the_same_limits() -> None:
    with pytest.raises(InvalidDocument, match="anchors"):
        parse_config("node: &n vm-1\nservices: []\n")
    with pytest.raises(InvalidDocument, match="nested more than 64 levels deep"):
        parse_config("node: vm-1\nmeta: " + "[" * 100_000 + "]" * 100_000 + "\n")
