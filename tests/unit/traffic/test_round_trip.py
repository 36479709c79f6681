"""Property: every valid document passes its published schema, and what the model gives back
(encode) passes it too and parses to the same model, from JSON or YAML alike."""

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.traffic import KINDS, encode, parse_document
from mesh.traffic.schema import validator_for

from .strategies import DOCUMENTS


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_valid_document_round_trips_through_the_schema(kind: str, data: st.DataObject) -> None:
    raw: dict[str, Any] = data.draw(DOCUMENTS[kind], label="document")
    assert validator_for(kind).is_valid(raw)
    doc = parse_document(kind, "api", json.dumps(raw))

    again = encode(doc)
    assert validator_for(kind).is_valid(again), list(validator_for(kind).iter_errors(again))
    assert parse_document(kind, "api", json.dumps(again)) == doc
    assert parse_document(kind, "api", yaml.safe_dump(raw)) == doc
