"""The examples in docs/traffic.md are valid, consistent with each other, and the documented
error output is what the code prints."""

import re
from collections import defaultdict
from pathlib import Path

import pytest

from mesh.errors import InvalidDocument
from mesh.traffic import TrafficDocument, check_references, parse_document

DOC = Path(__file__).parents[3] / "docs" / "traffic.md"
_BLOCK = r"\s*```[a-z]*\n(?P<body>.*?)```"
EXAMPLE = re.compile(r"<!-- example (?P<scenario>[\w-]+): (?P<kind>[\w-]+)/(?P<service>[\w-]+) -->" + _BLOCK, re.S)
REJECTED = re.compile(r"<!-- rejected: (?P<kind>[\w-]+)/(?P<service>[\w-]+) -->" + _BLOCK, re.S)
PROBLEMS = re.compile(r"<!-- problems: [\w/-]+ -->" + _BLOCK, re.S)


def examples() -> dict[str, list[tuple[str, str, str]]]:
    by_scenario: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for found in EXAMPLE.finditer(DOC.read_text(encoding="utf-8")):
        by_scenario[found["scenario"]].append((found["kind"], found["service"], found["body"]))
    return by_scenario


def test_the_page_has_the_examples_it_promises() -> None:
    scenarios = examples()
    assert len(scenarios) >= 12
    assert sum(len(docs) for docs in scenarios.values()) >= 16
    kinds = {kind for docs in scenarios.values() for kind, _, _ in docs}
    assert kinds == {"service-defaults", "service-resolver", "service-splitter", "service-router"}


@pytest.mark.parametrize("scenario", sorted(examples()))
def test_each_example_is_valid_together_with_the_base_documents(scenario: str) -> None:
    documents: dict[tuple[str, str], TrafficDocument] = {}
    for kind, service, body in [*examples()["base"], *examples()[scenario]]:
        documents[kind, service] = parse_document(kind, service, body)
    assert check_references(documents.values()) == []


def test_the_documented_refusal_is_what_the_agent_prints() -> None:
    text = DOC.read_text(encoding="utf-8")
    rejected = REJECTED.search(text)
    expected = PROBLEMS.search(text)
    assert rejected is not None
    assert expected is not None
    with pytest.raises(InvalidDocument) as caught:
        parse_document(rejected["kind"], rejected["service"], rejected["body"])
    assert str(caught.value) == expected["body"].rstrip("\n")
