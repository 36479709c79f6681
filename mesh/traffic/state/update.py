"""The next TrafficState from the previous one and a full KV listing (pure).

Rules, in the order they apply:
1. A key under the prefix that cannot hold a document (unknown kind, bad service name, nested
   path) is ignored and reported; folder keys and keys outside the prefix are skipped silently.
2. A document is parsed and validated alone; if that fails, the key keeps its previous good
   version (or stays absent) and the error lists every problem. An unchanged value is not parsed
   again.
3. A deleted key is removed: deleting is always applied. Consul refuses to delete a config entry
   that another one still refers to, but KV cannot refuse a delete; keeping a deleted document in
   force would make the KV listing lie about what routes traffic. So the delete wins, and a
   document left with a dangling reference stays in force (what it still says is the operator's
   latest intent, and dropping it would also drop its unrelated settings) and is reported under
   its own key until the reference is fixed. Routing copes: a target without its subset's resolver
   resolves to no endpoints rather than to the wrong ones.
4. Changed documents are then checked against each other and against the rest
   (`check_references`). A changed document with a problem of its own is rejected; when a problem
   shows on an unchanged document, the change(s) that introduced it are rejected. Rejection
   repeats until the changes left are consistent, so the rest of an update still applies.

Whatever reading one document raises is that document's rejection (rule 2), an unexpected
exception included: it is logged with its traceback as the bug it is, and costs only its key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from mesh.errors import InvalidDocument, Problem
from mesh.traffic.filters import CONSUL_FILTERS, FilterCompiler
from mesh.traffic.keys import DocumentId, parse_key
from mesh.traffic.parsing import parse_document
from mesh.traffic.planes import BUILTIN_L7
from mesh.traffic.references import check_references
from mesh.traffic.state.listing import read_listing
from mesh.traffic.state.model import DocumentError, InForce, ParsedListing, ParsedVersion, TrafficState

log = structlog.get_logger("mesh.traffic.state")

Issue = tuple[DocumentId, Problem]


def next_state(
    previous: TrafficState,
    listing: Any,
    *,
    prefix: str,
    compile_filter: FilterCompiler = CONSUL_FILTERS,
    l7: frozenset[str] = BUILTIN_L7,
) -> TrafficState:
    """Apply a full recursive listing of `prefix` (Consul's JSON, or py-consul's decoded form),
    or a ParsedListing of one (`parse_ahead`), whose parsed documents are then reused. `l7` is what
    the data plane carries at L7 (mesh.traffic.planes), which decides whether a router or splitter
    of an http2 or grpc service can apply.

    Raises ValueError when `listing` is not a listing at all (the previous state then stands).
    """
    ahead: Mapping[str, ParsedVersion] = {}
    if isinstance(listing, ParsedListing):
        listing, ahead = listing.listing, listing.parsed
    entries, unreadable = read_listing(listing)
    errors: dict[str, DocumentError] = {}
    parsed: dict[str, ParsedVersion] = {}
    present: set[DocumentId] = set()
    changed: dict[DocumentId, InForce] = {}

    for bad in unreadable:
        doc_id = _document_id(prefix, bad.key, bad.modify_index, errors)
        if doc_id is not None:
            present.add(doc_id)
            errors[bad.key] = _rejected(bad.key, bad.modify_index, (bad.problem,), previous.documents.get(doc_id))
    for entry in entries:
        doc_id = _document_id(prefix, entry.key, entry.modify_index, errors)
        if doc_id is None:
            continue
        present.add(doc_id)
        version = _reusable(entry.value, previous.parsed.get(entry.key), ahead.get(entry.key))
        if version is None:
            version = ParsedVersion(entry.value, _parse(doc_id, entry.key, entry.value, compile_filter))
        parsed[entry.key] = version
        if isinstance(version.result, InvalidDocument):
            problems = tuple(str(p) for p in version.result.problems)
            errors[entry.key] = _rejected(entry.key, entry.modify_index, problems, previous.documents.get(doc_id))
            continue
        current = previous.documents.get(doc_id)
        if current is None or current.modify_index != entry.modify_index or current.document != version.result:
            changed[doc_id] = InForce(entry.key, entry.modify_index, version.result)

    base = {doc_id: v for doc_id, v in previous.documents.items() if doc_id in present}
    accepted, refused, dangling = settle(base, changed, l7=l7)
    for doc_id, problems in refused.items():
        refused_version = changed[doc_id]
        errors[refused_version.key] = _rejected(
            refused_version.key, refused_version.modify_index, problems, base.get(doc_id)
        )
    documents = {**base, **accepted}
    for doc_id, problems in dangling.items():
        kept = documents[doc_id]
        errors[kept.key] = DocumentError(kept.key, kept.modify_index, problems, "in_force")
    return TrafficState(documents=dict(sorted(documents.items())), errors=errors, parsed=parsed)


def parse_ahead(
    listing: Any,
    *,
    prefix: str,
    previous: Mapping[str, ParsedVersion],
    compile_filter: FilterCompiler = CONSUL_FILTERS,
) -> ParsedListing:
    """Parse every document of `listing` whose bytes are not those in `previous` (the last
    ParsedListing's `parsed`), for `next_state` to reuse. Pure and self-contained: made to run
    in a worker thread, off the event loop. Never raises: what it cannot read it leaves to
    `next_state`, which reports it."""
    try:
        entries, _ = read_listing(listing)
    except ValueError:
        return ParsedListing(listing, {})
    parsed: dict[str, ParsedVersion] = {}
    for entry in entries:
        try:
            doc_id = parse_key(prefix, entry.key)
        except InvalidDocument:
            continue
        if doc_id is None:
            continue
        version = _reusable(entry.value, previous.get(entry.key))
        if version is None:
            version = ParsedVersion(entry.value, _parse(doc_id, entry.key, entry.value, compile_filter))
        parsed[entry.key] = version
    return ParsedListing(listing, parsed)


def _reusable(raw: bytes, *candidates: ParsedVersion | None) -> ParsedVersion | None:
    """The first parse of exactly these bytes among `candidates`."""
    return next((c for c in candidates if c is not None and c.raw == raw), None)


def settle(
    base: Mapping[DocumentId, InForce], changed: Mapping[DocumentId, InForce], *, l7: frozenset[str] = BUILTIN_L7
) -> tuple[dict[DocumentId, InForce], dict[DocumentId, tuple[str, ...]], dict[DocumentId, tuple[str, ...]]]:
    """Which changes to accept on top of `base`: (accepted, refused with why, dangling).

    A change whose problems show even against what is in force is wrong by itself and refused.
    Any other problem (on a changed document, or new on an unchanged one) was introduced by a
    change: the first one (in key order) whose withdrawal removes it is refused, and the rest is
    checked again, so that of two changes that only clash together, one still applies.
    `dangling` lists problems left on unchanged documents: their references broke because a
    document was deleted, and they stay in force.
    """
    baseline = set(_issues(base.values(), l7))
    pending = dict(changed)
    refused: dict[DocumentId, tuple[str, ...]] = {}
    while True:
        issues = _issues({**base, **pending}.values(), l7)
        introduced = [i for i in issues if i[0] in pending or i not in baseline]
        if not introduced:
            break
        wrong = _wrong_alone(base, pending, {doc_id for doc_id, _ in introduced}, l7)
        if wrong:
            for doc_id, problems in wrong.items():
                refused[doc_id] = problems
                del pending[doc_id]
            continue
        culprit, broken = _culprit(base, pending, introduced, l7)
        refused[culprit] = tuple(f"rejected: with it, {victim}: {problem}" for victim, problem in broken)
        del pending[culprit]
    dangling = _by_document(_issues({**base, **pending}.values(), l7))
    return pending, refused, {d: tuple(str(p) for p in ps) for d, ps in dangling.items()}


def _wrong_alone(
    base: Mapping[DocumentId, InForce],
    pending: Mapping[DocumentId, InForce],
    suspects: set[DocumentId],
    l7: frozenset[str],
) -> dict[DocumentId, tuple[str, ...]]:
    """Changed documents that have problems of their own against `base` alone."""
    out: dict[DocumentId, tuple[str, ...]] = {}
    for doc_id in sorted(suspects & pending.keys()):
        own = [str(p) for d, p in _issues({**base, doc_id: pending[doc_id]}.values(), l7) if d == doc_id]
        if own:
            out[doc_id] = tuple(own)
    return out


def _culprit(
    base: Mapping[DocumentId, InForce],
    pending: Mapping[DocumentId, InForce],
    introduced: list[Issue],
    l7: frozenset[str],
) -> tuple[DocumentId, list[Issue]]:
    """The first change whose withdrawal removes an introduced issue of another document, with
    the issues it caused; failing that, the first change (the issue needs several withdrawals)."""
    for doc_id in sorted(pending):
        without = {**base, **{d: v for d, v in pending.items() if d != doc_id}}
        remaining = set(_issues(without.values(), l7))
        fixed = [i for i in introduced if i[0] != doc_id and i not in remaining]
        if fixed:
            return doc_id, fixed
    first = min(pending)
    return first, [i for i in introduced if i[0] != first] or introduced


def _issues(versions: Iterable[InForce], l7: frozenset[str]) -> list[Issue]:
    return check_references((v.document for v in versions), l7=l7)


def _by_document(issues: Iterable[Issue]) -> dict[DocumentId, list[Problem]]:
    out: dict[DocumentId, list[Problem]] = {}
    for doc_id, problem in issues:
        out.setdefault(doc_id, []).append(problem)
    return out


def _document_id(prefix: str, key: str, modify_index: int, errors: dict[str, DocumentError]) -> DocumentId | None:
    try:
        return parse_key(prefix, key)
    except InvalidDocument as exc:
        errors[key] = DocumentError(key, modify_index, tuple(str(p) for p in exc.problems), "ignored")
        return None


def _parse(doc_id: DocumentId, key: str, raw: bytes, compile_filter: FilterCompiler) -> Any:
    try:
        return parse_document(doc_id.kind, doc_id.service, raw, source=key, compile_filter=compile_filter)
    except InvalidDocument as exc:
        return exc
    except Exception as exc:  # one document must not cost the listing (issue 12)
        log.exception("reading a KV document failed unexpectedly; rejected", key=key)
        return InvalidDocument(key, [Problem("", f"could not be read: {type(exc).__name__}: {exc}")])


def _rejected(key: str, modify_index: int, problems: tuple[str, ...], kept: InForce | None) -> DocumentError:
    return DocumentError(key, modify_index, problems, "rejected", None if kept is None else kept.modify_index)
