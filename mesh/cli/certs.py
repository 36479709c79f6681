"""`meshctl certs`: each local service's leaf certificate and when it rotates, from the admin API."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any, TextIO

from mesh.cli.admin_api import fetch_status
from mesh.cli.errors import NEGATIVE, OK
from mesh.cli.options import output_of
from mesh.cli.output import dump, table
from mesh.cli.relative_time import relative, rfc3339


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "certs",
        parents=[common],
        help="per service: serial, SPIFFE ID, not-after, next rotation",
        description="Show each local service's certificate. Exit status 1 when one is missing or expired.",
    )
    p.set_defaults(run=run)


def certificates(status: Mapping[str, Any], now: float) -> list[dict[str, Any]]:
    """One row per local service; times as RFC 3339 plus seconds from `now` (negative: past)."""
    rows = []
    for service in status.get("services") or ():
        cert = service.get("certificate") or {}
        not_after, renew_at = _epoch(cert.get("not_after")), _epoch(cert.get("renew_at"))
        rows.append(
            {
                "service": service.get("name"),
                "serial": cert.get("serial"),
                "spiffe_id": cert.get("spiffe_id"),
                "not_after": None if not_after is None else rfc3339(not_after),
                "expires_in_seconds": None if not_after is None else round(not_after - now),
                "renew_at": None if renew_at is None else rfc3339(renew_at),
                "renews_in_seconds": None if renew_at is None else round(renew_at - now),
            }
        )
    return rows


def _epoch(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def healthy(row: Mapping[str, Any]) -> bool:
    return row["serial"] is not None and (row["expires_in_seconds"] is None or row["expires_in_seconds"] > 0)


def render_certs(rows: list[dict[str, Any]], now: float) -> str:
    if not rows:
        return "no local services"

    def when(stamp: str | None, seconds: int | None) -> str | None:
        return None if stamp is None or seconds is None else f"{stamp} ({relative(now + seconds, now)})"

    body = [
        [
            r["service"],
            r["serial"] if r["serial"] is not None else "NO CERTIFICATE",
            r["spiffe_id"],
            when(r["not_after"], r["expires_in_seconds"]),
            when(r["renew_at"], r["renews_in_seconds"]),
        ]
        for r in rows
    ]
    return table(("SERVICE", "SERIAL", "SPIFFE ID", "NOT AFTER", "NEXT ROTATION"), body)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    now = time.time()
    rows = certificates(fetch_status(args.admin), now)
    fmt = output_of(args)
    out.write((render_certs(rows, now) if fmt == "table" else dump(rows, fmt)) + "\n")
    return OK if all(healthy(r) for r in rows) else NEGATIVE
