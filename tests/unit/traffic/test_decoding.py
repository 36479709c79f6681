import pytest

from mesh.errors import Problem
from mesh.traffic.decoding import decode_document


def test_json_and_yaml_give_the_same_data() -> None:
    as_json, _ = decode_document(b'{"Splits": [{"Weight": 100}]}')
    as_yaml, _ = decode_document(b"Splits:\n  - Weight: 100\n")
    assert as_json == as_yaml == {"Splits": [{"Weight": 100}]}


def test_json_indented_with_tabs_is_read_as_json() -> None:
    assert decode_document(b'{\n\t"Protocol": "http"\n}') == ({"Protocol": "http"}, [])


def test_a_yaml_flow_mapping_is_accepted_although_it_starts_like_json() -> None:
    assert decode_document(b"{Protocol: http}") == ({"Protocol": "http"}, [])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"Splits": [}', "invalid JSON at line 1, column 13: Expecting value"),
        (b"Splits:\n  - Weight: [1\n", "invalid YAML at line 3, column 1"),
        (b'{"Protocol": "http", "Protocol": "tcp"}', "invalid JSON: duplicate key 'Protocol'"),
        (b"Protocol: http\nProtocol: tcp\n", "duplicate key 'Protocol'"),
        (b'{"Weight": 1,, "x": 2}', "invalid JSON at line 1, column 14: Expecting property name"),
        (b"  \n", "is empty"),
        (b"- a\n- b\n", "must be a mapping of field names to values, got array"),
        (b"\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_unreadable_text_is_one_problem_that_says_where(raw: bytes, message: str) -> None:
    _, problems = decode_document(raw)
    assert len(problems) == 1
    assert problems[0].path == ""
    assert message in problems[0].message


def test_yaml_values_json_cannot_hold_are_refused_with_their_path() -> None:
    _, problems = decode_document(b"Splits:\n  - Weight: .nan\n1: x\n")
    assert problems == [
        Problem("Splits[0].Weight", "must be a finite number"),
        Problem('["1"]', "keys must be strings, got integer (quote the key)"),
    ]
