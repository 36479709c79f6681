"""`meshctl config put|validate|delete`: change traffic documents safely.

`validate` checks a file alone, with the agents' own code, and touches nothing. `put` does the
same, then checks it against the other documents in KV, then writes with check-and-set (see
document_store.py). `delete` refuses to remove a document others still depend on.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from mesh.cli.document_file import describe, read_document_file
from mesh.cli.document_store import DocumentStore, WriteResult
from mesh.cli.errors import NEGATIVE, OK
from mesh.cli.kv_documents import document_id, validate_alone
from mesh.cli.options import add_document_arguments, consul_for, output_of
from mesh.cli.output import dump
from mesh.errors import InvalidDocument


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    put = sub.add_parser(
        "put",
        parents=[common],
        help="validate FILE, check it against the other documents, write it with check-and-set",
        description="Write FILE to <prefix>/KIND/SERVICE. Nothing is written when it is invalid, when it "
        "would break another document, or when the key changed in Consul since it was read.",
    )
    add_document_arguments(put, with_file=True)
    put.set_defaults(run=run_put)

    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check FILE alone, as the agents would, without contacting Consul",
        description="Validate FILE as the KIND document of SERVICE. Exit status 1 with every problem when invalid.",
    )
    add_document_arguments(validate, with_file=True)
    validate.set_defaults(run=run_validate)

    delete = sub.add_parser(
        "delete",
        parents=[common],
        help="delete a document with check-and-set",
        description="Delete <prefix>/KIND/SERVICE, unless another document still refers to what it defines "
        "or the key changed in Consul since it was read.",
    )
    add_document_arguments(delete)
    delete.set_defaults(run=run_delete)


def run_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc_id = document_id(args.prefix, args.kind, args.service)
    source = describe(args.file, args.kind, args.service)
    raw = read_document_file(args.file)
    fmt = output_of(args)
    try:
        validate_alone(doc_id, raw, source=source)
    except InvalidDocument as exc:
        if fmt == "table":
            raise
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
        out.write(dump({"document": str(doc_id), "valid": False, "problems": problems}, fmt) + "\n")
        return NEGATIVE
    if fmt == "table":
        out.write(f"ok: {source} is valid\n")
    else:
        out.write(dump({"document": str(doc_id), "valid": True, "problems": []}, fmt) + "\n")
    return OK


def run_put(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc_id = document_id(args.prefix, args.kind, args.service)
    raw = read_document_file(args.file)
    result = DocumentStore(consul_for(args), args.prefix).put(
        doc_id, raw, source=describe(args.file, args.kind, args.service)
    )
    _report(result, args, out, err)
    return OK


def run_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc_id = document_id(args.prefix, args.kind, args.service)
    result = DocumentStore(consul_for(args), args.prefix).delete(doc_id)
    _report(result, args, out, err)
    return OK


def describe_result(result: WriteResult) -> str:
    if result.outcome == "created":
        return f"created {result.key}"
    if result.outcome == "unchanged":
        return f"unchanged: {result.key} already holds this document; nothing written"
    return f"{result.outcome} {result.key} (was ModifyIndex {result.previous_index})"


def _report(result: WriteResult, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    if result.skipped:
        keys = ", ".join(exc.source for exc in result.skipped)
        err.write(
            f"note: {len(result.skipped)} document(s) in KV are rejected by the agents and were left out "
            f"of the cross-document checks: {keys}\n"
        )
    fmt = output_of(args)
    if fmt == "table":
        out.write(describe_result(result) + "\n")
        return
    doc = {
        "key": result.key,
        "outcome": result.outcome,
        "previous_modify_index": result.previous_index or None,
        "skipped": [exc.source for exc in result.skipped],
    }
    out.write(dump(doc, fmt) + "\n")
