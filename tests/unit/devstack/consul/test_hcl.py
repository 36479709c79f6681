"""The HCL subset of ACL rules: what parses to what, and clear errors for the rest."""

from __future__ import annotations

import pytest

from mesh.devstack.consul.hcl import HCLError, parse


def test_blocks_labels_assignments_and_comments() -> None:
    text = """
    # a comment
    key_prefix "" { policy = "deny" }   // another
    key "app/config" {
      policy = "write"  /* and a
      block comment */
    }
    operator = "read"
    service "web" { policy = "read" intentions = "write" }
    limits = 3
    flag = true
    """
    assert parse(text) == {
        "key_prefix": {"": {"policy": "deny"}},
        "key": {"app/config": {"policy": "write"}},
        "operator": "read",
        "service": {"web": {"policy": "read", "intentions": "write"}},
        "limits": 3,
        "flag": True,
    }


def test_blocks_of_the_same_kind_with_different_labels_merge() -> None:
    assert parse('key "a" { policy = "read" }\nkey "b" { policy = "write" }') == {
        "key": {"a": {"policy": "read"}, "b": {"policy": "write"}}
    }


def test_nested_object_assignment_and_escapes() -> None:
    assert parse('x = { y = "a\\"b\\n" }') == {"x": {"y": 'a"b\n'}}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('key "a" { policy = "read" ', "1:27: expected a key or '}', found end of input"),
        ('key "a" { policy = "read }', "string not terminated"),
        ('key "a" { policy = "read" }\nkey "a" { policy = "write" }', '2:5: key "a" is defined twice'),
        ('key "a" { policy = "read", }', "unexpected character ','"),
        ('key "a" = "b"', "1:9: expected '{', found '='"),
        ("policy =", "1:9: expected a string, number, boolean or block after '='"),
        ('x = "${var.y}"', "interpolation is not allowed"),
        ("/* open", "comment not terminated"),
        ('x = "a\\q"', "unknown escape"),
        ('key = ["a"]', "unexpected character '['"),
        ('key "a" { policy = "r" }\n}', "2:1: expected a key, found '}'"),
    ],
)
def test_what_is_not_the_subset_is_a_clear_error(text: str, error: str) -> None:
    with pytest.raises(HCLError) as caught:
        parse(text)
    assert error in str(caught.value)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(HCLError, match="nested deeper"):
        parse("a { " * 100 + "}" * 100)
