"""Reading and writing traffic documents in Consul KV, with check-and-set.

A write is checked against what was read: the ModifyIndex of the document's key is taken in
the same read as every other document (one recursive GET of the prefix), the candidate is
validated alone and against those documents, and the write carries `?cas=<ModifyIndex>` (0 for
a new key). If anyone wrote the key in between (an operator in the Consul UI, another
meshctl), Consul refuses the write and nothing is lost.

Consul's KV check-and-set covers one key: a concurrent change to a *different* document
between the read and the write is not detected, so the cross-document checks see the
documents as they were at the read.

Several documents (`put_many`) are validated alone, then together against the others, and
written in one `/v1/txn` of `cas` operations: Consul applies all of them at one index or, when
any key moved since the read, none. Consul takes at most 64 operations in a transaction, so
more documents than that are refused before anything is read rather than split, which would
give up all-or-none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mesh.cli.consul_api import MAX_TXN_OPS, CasWrite, ConsulApi
from mesh.cli.errors import Refused
from mesh.cli.kv_documents import (
    PrefixContents,
    StoredDocument,
    canonical_text,
    decoded,
    introduced_by_changes,
    introduced_problems,
    read_prefix,
    stored_bytes,
    valid_documents,
    validate_alone,
)
from mesh.errors import InvalidDocument, Problem
from mesh.traffic import DocumentId, TrafficDocument

# Called after everything is checked and just before the write: a seam for tests that need a
# concurrent write to land exactly there, which no timing-based test could do reliably.
BeforeWrite = Callable[[], None]

Outcome = Literal["created", "replaced", "unchanged", "deleted"]


@dataclass(frozen=True)
class WriteResult:
    key: str
    outcome: Outcome
    previous_index: int
    # Documents in KV that the agents reject today, so they could not take part in the checks.
    skipped: list[InvalidDocument] = field(default_factory=list)


class CasConflict(Refused):
    def __init__(self, key: str, read_index: int, now_index: int | None) -> None:
        now = "deleted" if now_index is None else f"now at ModifyIndex {now_index}"
        read = f"ModifyIndex {read_index}" if read_index else "absent"
        super().__init__(
            f"{key} changed in Consul after meshctl read it ({read} when read, {now}): someone else wrote it, "
            "for example in the Consul UI. Nothing was written; look at `meshctl config diff` and try again."
        )


@dataclass(frozen=True)
class Candidate:
    """One document of a several-document put: which document, its new text, and where that came from."""

    id: DocumentId
    raw: bytes
    source: str


@dataclass(frozen=True)
class BatchResult:
    """A several-document put: each document's outcome, and the index all the written ones landed at
    (0 when every document was already as given and nothing was written)."""

    results: list[WriteResult]
    index: int


class TxnConflict(Refused):
    """A transaction Consul refused: which document failed, and that none was applied."""

    def __init__(self, failures: list[tuple[str, str]], total: int, *, stale: bool) -> None:
        lines = "\n".join(f"  {where}: {why}" for where, why in failures)
        advice = (
            "Someone else wrote a document after meshctl read it (for example in the Consul UI); "
            "look at `meshctl config diff` and try again."
            if stale
            else "Check the token: writing a document needs key:write on its key."
        )
        super().__init__(f"Consul refused the transaction of {total} document(s); none was applied:\n{lines}\n{advice}")


class DocumentStore:
    def __init__(self, api: ConsulApi, prefix: str) -> None:
        self.api = api
        self.prefix = prefix.strip("/")

    def read(self, doc_id: DocumentId) -> StoredDocument | None:
        key = doc_id.key(self.prefix)
        entry = self.api.kv_get(key)
        return None if entry is None else StoredDocument(doc_id, key, entry.value, entry.modify_index)

    def contents(self) -> PrefixContents:
        return read_prefix(self.prefix, ((e.key, e.value, e.modify_index) for e in self.api.kv_list(self.prefix)))

    def put(
        self, doc_id: DocumentId, raw: bytes, *, source: str, before_write: BeforeWrite | None = None
    ) -> WriteResult:
        """Validate `raw` alone, then against the other documents in KV, then write it with CAS.

        Raises InvalidDocument (nothing read from Consul) when the document is invalid alone,
        Refused when it would break other documents, CasConflict when the key moved meanwhile.
        """
        data, model = validate_alone(doc_id, raw, source=source)
        contents = self.contents()
        key = doc_id.key(self.prefix)
        current = contents.documents.get(doc_id)
        read_index = current.modify_index if current is not None else 0
        valid, rejected = self._valid_others(contents, key)
        _refuse_if_breaking(introduced_problems(valid, doc_id, model), key, "writing")
        if current is not None and _same(doc_id, current.value, data):
            return WriteResult(key, "unchanged", read_index, rejected)
        if before_write is not None:
            before_write()
        if not self.api.kv_put_cas(key, stored_bytes(data), read_index):
            raise self._conflict(key, read_index)
        return WriteResult(key, "replaced" if current is not None else "created", read_index, rejected)

    def put_many(self, candidates: list[Candidate], *, before_write: BeforeWrite | None = None) -> BatchResult:
        """Validate every candidate alone, then all of them together against the other documents
        in KV, then write the changed ones in one transaction: all of them or none.

        Raises Refused for more than MAX_TXN_OPS documents or one named twice (nothing read),
        InvalidDocument for the first invalid one (nothing read), Refused when together they
        would break other documents, TxnConflict when a key moved meanwhile.
        """
        if len(candidates) > MAX_TXN_OPS:
            raise Refused(
                f"{len(candidates)} documents given; Consul applies at most {MAX_TXN_OPS} operations in one "
                f"transaction, so they cannot be written all or none. Nothing written; put them in groups of "
                f"at most {MAX_TXN_OPS}."
            )
        seen: dict[DocumentId, str] = {}
        for c in candidates:
            if c.id in seen:
                raise Refused(f"{c.id} is given twice ({seen[c.id]} and {c.source}); nothing written")
            seen[c.id] = c.source
        checked = [(c, *validate_alone(c.id, c.raw, source=c.source)) for c in candidates]
        contents = self.contents()
        keys = {c.id.key(self.prefix) for c in candidates}
        valid, rejected = valid_documents(contents.documents)
        rejected = [r for r in rejected if r.source not in keys]
        changes = {c.id: model for c, _data, model in checked}
        _refuse_if_breaking(introduced_by_changes(valid, changes), ", ".join(sorted(keys)), "writing")
        results: list[WriteResult] = []
        writes: list[tuple[Candidate, CasWrite]] = []
        for c, data, _model in checked:
            key = c.id.key(self.prefix)
            current = contents.documents.get(c.id)
            read_index = current.modify_index if current is not None else 0
            if current is not None and _same(c.id, current.value, data):
                results.append(WriteResult(key, "unchanged", read_index, rejected))
                continue
            writes.append((c, CasWrite(key, stored_bytes(data), read_index)))
            results.append(WriteResult(key, "replaced" if current is not None else "created", read_index, rejected))
        if not writes:
            return BatchResult(results, 0)
        if before_write is not None:
            before_write()
        outcome = self.api.kv_txn_cas([w for _c, w in writes])
        if outcome.errors:
            failures = [self._failure(writes, i, what) for i, what in outcome.errors]
            raise TxnConflict(failures, len(writes), stale=all(_stale(what) for _i, what in outcome.errors))
        return BatchResult(results, outcome.index)

    def _failure(self, writes: list[tuple[Candidate, CasWrite]], op_index: int, what: str) -> tuple[str, str]:
        """Which document an operation Consul refused was, with what it is now at."""
        if not 0 <= op_index < len(writes):
            return "the transaction", what
        candidate, write = writes[op_index]
        if not _stale(what):  # a refusal (ACL), not a moved key: reading the key may be refused too
            return f"{write.key} from {candidate.source}", what
        now = self.api.kv_get(write.key)
        read = f"ModifyIndex {write.modify_index}" if write.modify_index else "absent"
        at = "absent now" if now is None else f"now at ModifyIndex {now.modify_index}"
        return f"{write.key} from {candidate.source}", f"{what} ({read} when read, {at})"

    def delete(self, doc_id: DocumentId, *, before_write: BeforeWrite | None = None) -> WriteResult:
        """Delete with CAS, refusing when other documents still refer to this one."""
        contents = self.contents()
        key = doc_id.key(self.prefix)
        current = contents.documents.get(doc_id)
        if current is None:
            raise Refused(f"{key} does not exist in Consul KV at {self.api.address}")
        valid, rejected = self._valid_others(contents, key)
        _refuse_if_breaking(introduced_problems(valid, doc_id, None), key, "deleting")
        if before_write is not None:
            before_write()
        if not self.api.kv_delete_cas(key, current.modify_index):
            raise self._conflict(key, current.modify_index)
        return WriteResult(key, "deleted", current.modify_index, rejected)

    @staticmethod
    def _valid_others(
        contents: PrefixContents, key: str
    ) -> tuple[dict[DocumentId, TrafficDocument], list[InvalidDocument]]:
        """Every valid document (the one being changed included: its current version is what
        the change is measured against), and the rejections of the others."""
        valid, rejected = valid_documents(contents.documents)
        return valid, [r for r in rejected if r.source != key]

    def _conflict(self, key: str, read_index: int) -> CasConflict:
        now = self.api.kv_get(key)
        return CasConflict(key, read_index, None if now is None else now.modify_index)


def _stale(what: str) -> bool:
    """Consul's reason for a `cas` on a key that moved since the read (agent/consul/state/txn.go)."""
    return "index is stale" in what


def _same(doc_id: DocumentId, stored: bytes, data: dict[str, object]) -> bool:
    try:
        return canonical_text(doc_id, decoded(stored, source="")) == canonical_text(doc_id, data)
    except InvalidDocument:
        return False


def _refuse_if_breaking(problems: list[tuple[DocumentId, Problem]], key: str, doing: str) -> None:
    if not problems:
        return
    lines = "\n".join(f"  {doc_id}: {problem}" for doc_id, problem in problems)
    raise Refused(f"{doing} {key} would make {len(problems)} cross-document problem(s); nothing written:\n{lines}")
