"""Validate traffic documents before writing them to Consul KV, as the agents will.

    python -m mesh.traffic service-splitter/api=splitter.json service-resolver/api=resolver.yaml

Each argument is `<kind>/<service>=<file>`. Every document is checked alone, then all of them
together (subsets, loops, protocols). Exit status 0 when all are valid, 1 otherwise, 2 on
usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mesh.errors import InvalidDocument, Problem
from mesh.traffic.keys import parse_key
from mesh.traffic.model import TrafficDocument
from mesh.traffic.parsing import parse_document
from mesh.traffic.references import check_references

_USAGE = "usage: python -m mesh.traffic <kind>/<service>=<file> [...]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or any("=" not in a for a in args):
        print(_USAGE, file=sys.stderr)
        return 2
    docs: list[TrafficDocument] = []
    failed = False
    for arg in args:
        name, _, filename = arg.partition("=")
        try:
            doc_id = parse_key("", name)
            if doc_id is None:
                raise InvalidDocument(name, [Problem("", "expected <kind>/<service>")])
            docs.append(parse_document(doc_id.kind, doc_id.service, Path(filename).read_bytes(), source=name))
            print(f"ok {name}")
        except InvalidDocument as exc:
            failed = True
            print(exc, file=sys.stderr)
        except OSError as exc:
            failed = True
            print(f"{name}: cannot read {filename}: {exc.strerror}", file=sys.stderr)
    for doc_id, problem in check_references(docs):
        failed = True
        print(f"{doc_id}: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
