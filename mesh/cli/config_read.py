"""`meshctl config get|diff|list`: traffic documents as they are in Consul KV."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from mesh.cli.document_file import describe, read_document_file
from mesh.cli.document_store import DocumentStore
from mesh.cli.errors import NEGATIVE, OK, Refused
from mesh.cli.kv_documents import (
    PrefixContents,
    canonical_text,
    decoded,
    document_id,
    parse_stored,
    unified_diff,
    valid_documents,
)
from mesh.cli.options import add_document_arguments, consul_for, output_of
from mesh.cli.output import dump, table
from mesh.errors import InvalidDocument
from mesh.traffic import check_references


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    get = sub.add_parser(
        "get",
        parents=[common],
        help="print a document as stored (JSON, or YAML with -o yaml)",
        description="Print the document stored at <prefix>/KIND/SERVICE. Exit status 1 when there is none.",
    )
    add_document_arguments(get)
    get.set_defaults(run=run_get)

    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="unified diff between the stored document and FILE",
        description="Compare the stored document with FILE, both in a normal form (JSON, keys sorted, "
        "Kind/Name left out when they repeat the key). Exit status 1 when they differ.",
    )
    add_document_arguments(diff, with_file=True)
    diff.set_defaults(run=run_diff)

    listing = sub.add_parser(
        "list",
        parents=[common],
        help="every document under the prefix, and whether the agents accept it",
        description="List the documents under the prefix with their ModifyIndex and every problem the "
        "agents would report (alone, and across documents).",
    )
    listing.set_defaults(run=run_list)


def run_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc_id = document_id(args.prefix, args.kind, args.service)
    api = consul_for(args)
    stored = DocumentStore(api, args.prefix).read(doc_id)
    if stored is None:
        raise Refused(f"no document at {doc_id.key(args.prefix)} in Consul KV at {api.address}")
    try:
        data = decoded(stored.value, source=stored.key)
    except InvalidDocument as exc:
        # Show what is there anyway: the operator needs to see it to fix it.
        err.write(f"note: the agents reject this document, it is not JSON or YAML:\n{exc}\n")
        out.write(stored.value.decode("utf-8", "replace").rstrip("\n") + "\n")
        return OK
    try:
        parse_stored(stored)
    except InvalidDocument as exc:
        err.write(f"note: the agents reject this document:\n{exc}\n")
    out.write(dump(data, output_of(args)) + "\n")
    return OK


def run_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc_id = document_id(args.prefix, args.kind, args.service)
    file_data = decoded(read_document_file(args.file), source=describe(args.file, args.kind, args.service))
    api = consul_for(args)
    stored = DocumentStore(api, args.prefix).read(doc_id)
    key = doc_id.key(args.prefix)
    old = "" if stored is None else canonical_text(doc_id, decoded(stored.value, source=key))
    text = unified_diff(
        old,
        canonical_text(doc_id, file_data),
        old_label=f"{key} (Consul)" if stored is not None else "/dev/null",
        new_label=args.file,
    )
    fmt = output_of(args)
    if fmt != "table":
        modify_index = None if stored is None else stored.modify_index
        out.write(dump({"key": key, "modify_index": modify_index, "equal": not text, "diff": text}, fmt) + "\n")
    elif text:
        out.write(text if text.endswith("\n") else text + "\n")
    else:
        err.write(f"{key} and {args.file} hold the same document\n")
    return NEGATIVE if text else OK


def document_listing(contents: PrefixContents) -> list[dict[str, Any]]:
    """Each document with every problem the agents would report, then keys that cannot be documents."""
    valid, rejected = valid_documents(contents.documents)
    problems: dict[str, list[str]] = {exc.source: [str(p) for p in exc.problems] for exc in rejected}
    for doc_id, problem in check_references(valid.values()):
        problems.setdefault(contents.documents[doc_id].key, []).append(str(problem))
    rows: list[dict[str, Any]] = [
        {
            "key": stored.key,
            "kind": doc_id.kind,
            "service": doc_id.service,
            "modify_index": stored.modify_index,
            "problems": problems.get(stored.key, []),
        }
        for doc_id, stored in sorted(contents.documents.items(), key=lambda item: item[1].key)
    ]
    rows += [
        {
            "key": bad.source,
            "kind": None,
            "service": None,
            "modify_index": None,
            "problems": [str(p) for p in bad.problems],
        }
        for bad in contents.bad_keys
    ]
    return rows


def run_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rows = document_listing(DocumentStore(consul_for(args), args.prefix).contents())
    fmt = output_of(args)
    if fmt != "table":
        out.write(dump(rows, fmt) + "\n")
    elif not rows:
        err.write(f"no documents under {args.prefix.strip('/')}/\n")
    else:
        body = [[r["key"], r["modify_index"], "; ".join(r["problems"]) or "ok"] for r in rows]
        out.write(table(("KEY", "MODIFY INDEX", "PROBLEMS"), body) + "\n")
    return OK
