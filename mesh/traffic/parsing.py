"""From KV bytes to a validated, immutable document, or every problem found."""

from __future__ import annotations

from typing import Any

from mesh.errors import InvalidDocument, Problem
from mesh.identity import is_valid_service_name
from mesh.traffic import codec
from mesh.traffic.decoding import decode_document
from mesh.traffic.filters import CONSUL_FILTERS, FilterCompiler
from mesh.traffic.keys import KINDS, DocumentId, parse_key
from mesh.traffic.model import TrafficDocument
from mesh.traffic.rules import rule_problems
from mesh.traffic.schema import schema_problems


def _identity_problems(kind: str, name: str, doc: dict[str, Any]) -> list[Problem]:
    """`Kind` and `Name` are optional, but when written they must agree with the key."""
    problems: list[Problem] = []
    written_kind, written_name = doc.get("Kind"), doc.get("Name")
    if isinstance(written_kind, str) and written_kind != kind:
        hint = "; was it written under the wrong key?" if written_kind in KINDS else ""
        problems.append(Problem("Kind", f"is {written_kind!r} but the key says {kind!r}{hint}"))
    if isinstance(written_name, str) and written_name != name:
        problems.append(Problem("Name", f"is {written_name!r} but the key names service {name!r}"))
    return problems


def document_problems(
    kind: str,
    name: str,
    raw: bytes | str,
    *,
    compile_filter: FilterCompiler = CONSUL_FILTERS,
    limit: int | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """The decoded data and every problem with it (none means it is valid).

    With a `limit`, checking stops once that many structural problems are found: a document
    with one per value would otherwise cost seconds per 100 KiB to describe in full.
    """
    if kind not in KINDS:
        return {}, [Problem("", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")]
    if not is_valid_service_name(name):
        return {}, [Problem("", f"{name!r} is not a service name")]
    doc, problems = decode_document(raw)
    if problems:
        return {}, problems
    problems = _identity_problems(kind, name, doc)
    if doc.get("Kind") in KINDS and doc["Kind"] != kind:
        # Written under the wrong key: checking it against this kind's schema would only add noise.
        return doc, problems
    problems += schema_problems(kind, doc, limit=limit)
    if limit is not None and len(problems) >= limit:
        return doc, problems
    seen = set(problems)  # a set: one problem per value of a hostile document must stay linear
    for problem in rule_problems(kind, name, doc, compile_filter):
        if problem not in seen:
            seen.add(problem)
            problems.append(problem)
    return doc, problems


# One hostile document can have a problem per value (tens of thousands); what an agent keeps,
# shows in /v1/status and logs is the first ones. `meshctl config validate` lists them all.
MAX_PROBLEMS_REPORTED = 20


def _reported(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS_REPORTED:
        return problems
    cut = f"and more: the first {MAX_PROBLEMS_REPORTED} are reported (meshctl config validate lists them all)"
    return [*problems[:MAX_PROBLEMS_REPORTED], Problem("", cut)]


def parse_document(
    kind: str,
    name: str,
    raw: bytes | str,
    *,
    source: str | None = None,
    compile_filter: FilterCompiler = CONSUL_FILTERS,
) -> TrafficDocument:
    """Parse and validate the document of `kind` for service `name` (JSON or YAML).

    Raises InvalidDocument(source, problems) listing the problems (the first
    MAX_PROBLEMS_REPORTED), each with a key path such as `Routes[0].Match.HTTP.PathPrefix`;
    `source` defaults to "<kind>/<name>" (pass the KV key). Bounded in time and memory by the
    document limits (mesh.documents.limits) whatever `raw` holds.
    Subset filters are checked with `compile_filter` (Consul's filter language by default).
    """
    doc, problems = document_problems(kind, name, raw, compile_filter=compile_filter, limit=MAX_PROBLEMS_REPORTED + 1)
    if problems:
        raise InvalidDocument(source or str(DocumentId(kind, name)), _reported(problems))
    return codec.decode(kind, name, doc)


def parse_kv_entry(
    prefix: str, key: str, raw: bytes | str, *, compile_filter: FilterCompiler = CONSUL_FILTERS
) -> TrafficDocument | None:
    """parse_key then parse_document, with the KV key as the error source; None for non-document keys."""
    document_id = parse_key(prefix, key)
    if document_id is None:
        return None
    return parse_document(document_id.kind, document_id.service, raw, source=key, compile_filter=compile_filter)
