"""Reading and writing traffic documents in Consul KV, with check-and-set.

A write is checked against what was read: the ModifyIndex of the document's key is taken in
the same read as every other document (one recursive GET of the prefix), the candidate is
validated alone and against those documents, and the write carries `?cas=<ModifyIndex>` (0 for
a new key). If anyone wrote the key in between (an operator in the Consul UI, another
meshctl), Consul refuses the write and nothing is lost.

Consul's KV check-and-set covers one key: a concurrent change to a *different* document
between the read and the write is not detected, so the cross-document checks see the
documents as they were at the read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mesh.cli.consul_api import ConsulApi
from mesh.cli.errors import Refused
from mesh.cli.kv_documents import (
    PrefixContents,
    StoredDocument,
    canonical_text,
    decoded,
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
