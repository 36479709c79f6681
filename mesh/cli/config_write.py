"""`meshctl config put|validate|delete`: change traffic documents safely.

`validate` checks a file alone, with the agents' own code, and touches nothing. `put` does the
same, then checks it against the other documents in KV, then writes with check-and-set (see
document_store.py). `put` with several `KIND SERVICE FILE` triples writes them in one Consul
transaction: all of them at one index, or none. `delete` refuses to remove a document others still depend on.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from mesh.cli.consul_api import MAX_TXN_OPS
from mesh.cli.document_file import describe, read_document_file
from mesh.cli.document_store import Candidate, DocumentStore, WriteResult
from mesh.cli.errors import NEGATIVE, OK, Refused
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
        "would break another document, or when the key changed in Consul since it was read. With more "
        f"KIND SERVICE FILE triples (at most {MAX_TXN_OPS} documents in all), every document is checked and "
        "they are written in one Consul transaction: all at one index, or none.",
    )
    add_document_arguments(put, with_file=True)
    put.add_argument(
        "more", nargs="*", metavar="KIND SERVICE FILE", help="further documents, written with the first, all or none"
    )
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
    if args.more:
        return _put_many(args, out, err)
    doc_id = document_id(args.prefix, args.kind, args.service)
    raw = read_document_file(args.file)
    result = DocumentStore(consul_for(args), args.prefix).put(
        doc_id, raw, source=describe(args.file, args.kind, args.service)
    )
    _report(result, args, out, err)
    return OK


def _put_many(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if len(args.more) % 3:
        raise Refused("config put takes KIND SERVICE FILE for each document; the last one is incomplete")
    triples = [(args.kind, args.service, args.file)]
    triples += [(args.more[i], args.more[i + 1], args.more[i + 2]) for i in range(0, len(args.more), 3)]
    if len(triples) > MAX_TXN_OPS:  # refused before reading a file, as the store would refuse it before Consul
        raise Refused(
            f"{len(triples)} documents given; Consul applies at most {MAX_TXN_OPS} operations in one transaction, "
            f"so they cannot be written all or none. Nothing written; put them in groups of at most {MAX_TXN_OPS}."
        )
    if sum(1 for _k, _s, path in triples if path == "-") > 1:
        raise Refused("standard input (-) can be the FILE of one document only")
    candidates = [
        Candidate(document_id(args.prefix, kind, service), read_document_file(path), describe(path, kind, service))
        for kind, service, path in triples
    ]
    batch = DocumentStore(consul_for(args), args.prefix).put_many(candidates)
    _report_skipped(batch.results[0].skipped, err)
    fmt = output_of(args)
    if fmt == "table":
        lines = [describe_result(r) for r in batch.results]
        written = sum(1 for r in batch.results if r.outcome != "unchanged")
        lines.append(
            f"{written} document(s) written in one transaction at index {batch.index}"
            if written
            else "nothing written: every document already holds what was given"
        )
        out.write("\n".join(lines) + "\n")
        return OK
    doc = {"index": batch.index or None, "documents": [_result_doc(r) for r in batch.results]}
    out.write(dump(doc, fmt) + "\n")
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


def _report_skipped(skipped: list[InvalidDocument], err: TextIO) -> None:
    if skipped:
        keys = ", ".join(exc.source for exc in skipped)
        err.write(
            f"note: {len(skipped)} document(s) in KV are rejected by the agents and were left out "
            f"of the cross-document checks: {keys}\n"
        )


def _result_doc(result: WriteResult) -> dict[str, Any]:
    return {
        "key": result.key,
        "outcome": result.outcome,
        "previous_modify_index": result.previous_index or None,
        "skipped": [exc.source for exc in result.skipped],
    }


def _report(result: WriteResult, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    _report_skipped(result.skipped, err)
    fmt = output_of(args)
    if fmt == "table":
        out.write(describe_result(result) + "\n")
        return
    out.write(dump(_result_doc(result), fmt) + "\n")
