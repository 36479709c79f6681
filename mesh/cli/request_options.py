"""`--path`, `--method` and `--header k=v`: the HTTP request that `intention check` and `explain` reason about."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mesh.cli.errors import Refused


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", metavar="P", help="request path (default /)")
    parser.add_argument("--method", metavar="M", help="request method (default GET)")
    parser.add_argument(
        "--header",
        metavar="K=V",
        action="append",
        default=[],
        help="request header; repeat for several (a repeated name is joined with ',', as on the wire)",
    )


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """Lower-case names to values; a name given twice has its values joined by a comma (RFC 9110)."""
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise Refused(f"--header expects NAME=VALUE, got {pair!r}")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def describes_request(args: argparse.Namespace) -> bool:
    """Whether the operator asked about a request rather than only a connection."""
    return args.path is not None or args.method is not None or bool(args.header)
