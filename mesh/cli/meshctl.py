"""`meshctl`: the operator CLI. Talks to the local agent's admin API and to Consul."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any


def _get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - operator-supplied admin URL
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def cmd_status(args: argparse.Namespace) -> int:
    try:
        code, doc = _get_json(f"{args.admin.rstrip('/')}/v1/status")
    except (urllib.error.URLError, OSError) as exc:
        print(f"meshctl: cannot reach the agent at {args.admin}: {exc}", file=sys.stderr)
        return 2
    if args.output == "json":
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0 if code == 200 else 1
    ready = "ready" if doc.get("ready") else "NOT READY: " + "; ".join(doc.get("not_ready_reasons", []))
    print(f"node {doc.get('node')}  dc {doc.get('datacenter')}  {ready}")
    for s in doc.get("services", []):
        cert = s.get("certificate") or {}
        print(f"  {s['name']:<20} {s['protocol']:<5} {s['local']:<22} cert {cert.get('serial', '-')}")
        for u in s.get("upstreams", []):
            eps = doc.get("endpoints", {}).get(f"{u['destination']}@{u['datacenter']}", [])
            print(f"    -> {u['destination']}@{u['datacenter']} on {u['bind']}: {len(eps)} endpoint(s)")
    for source, error in sorted(doc.get("errors", {}).items()):
        print(f"  error {source}: {error}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meshctl", description="Operate the service mesh.")
    p.add_argument("--admin", default="http://127.0.0.1:19100", help="the local agent's admin API")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="services, upstreams, endpoints, certificates, errors").set_defaults(fn=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.fn(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
