"""The local agent's admin API (DESIGN.md section 7), read with the standard library."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from mesh.cli.errors import AgentUnreachable, Refused

DEFAULT_ADMIN = "http://127.0.0.1:19100"
_TIMEOUT = 5.0


def fetch_status(admin: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """`GET /v1/status` (narrowed by `query`: service, upstream, limit). Raises AgentUnreachable when
    nothing answers, Refused on an unusable answer."""
    url = f"{admin.rstrip('/')}/v1/status" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    if not url.startswith(("http://", "https://")):
        raise Refused(f"--admin must be an http:// or https:// URL, got {admin!r}")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:  # noqa: S310 - scheme checked above
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise Refused(f"the agent at {admin} answered {exc.code} {exc.reason} for /v1/status") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AgentUnreachable(f"cannot reach the agent's admin API at {admin}: {reason}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise Refused(f"the agent at {admin} answered /v1/status with something that is not JSON") from None
    if not isinstance(doc, dict):
        raise Refused(f"the agent at {admin} answered /v1/status with a {type(doc).__name__}, not an object")
    return doc
