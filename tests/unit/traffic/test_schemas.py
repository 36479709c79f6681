"""The published schemas are well-formed Draft 2020-12 and describe every field the mesh reads."""

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mesh.traffic import SCHEMA_FILES, load_schema


@pytest.mark.parametrize("filename", SCHEMA_FILES)
def test_each_schema_file_is_a_valid_draft_2020_12_schema(filename: str) -> None:
    schema = load_schema(filename)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # No $id: references resolve relative to the file, so editors can use the files from disk.
    assert "$id" not in schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("filename", SCHEMA_FILES)
def test_every_reference_resolves_among_the_published_files(filename: str) -> None:
    base = "file:///schemas/"
    registry: Registry[Any] = Registry().with_resources(
        (base + name, DRAFT202012.create_resource(load_schema(name))) for name in SCHEMA_FILES
    )
    resolver = registry.resolver(base_uri=base + filename)
    for ref in _refs(load_schema(filename)):
        resolver.lookup(ref)


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


@pytest.mark.parametrize("filename", SCHEMA_FILES)
def test_every_object_refuses_unknown_keys(filename: str) -> None:
    for obj in _objects(load_schema(filename)):
        assert obj.get("additionalProperties") is False, sorted(obj["properties"])
