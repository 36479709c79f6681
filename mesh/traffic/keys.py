"""Where traffic documents live in Consul KV: `<config_prefix>/<kind>/<service>` (DESIGN.md section 5)."""

from __future__ import annotations

import difflib
from typing import NamedTuple

from mesh.errors import InvalidDocument, Problem
from mesh.identity import is_valid_service_name

SERVICE_DEFAULTS = "service-defaults"
SERVICE_RESOLVER = "service-resolver"
SERVICE_SPLITTER = "service-splitter"
SERVICE_ROUTER = "service-router"

KINDS: tuple[str, ...] = (SERVICE_DEFAULTS, SERVICE_RESOLVER, SERVICE_SPLITTER, SERVICE_ROUTER)

# Consul config-entry kinds an operator might reasonably try to put under the prefix; saying why
# they are refused beats "unknown kind".
_OTHER_CONSUL_KINDS = {
    "service-intentions": "intentions are Consul's own config entries (the UI's Intentions tab), not KV documents",
    "proxy-defaults": "proxy-defaults is not supported; put per-service settings in service-defaults",
    "mesh": "the mesh config entry is not supported",
}


class DocumentId(NamedTuple):
    """Which document: its kind and the service it configures. Unpacks as `(kind, service)`."""

    kind: str
    service: str

    def key(self, prefix: str) -> str:
        """The Consul KV key of this document under `prefix` (e.g. `mesh/config`)."""
        return f"{prefix.strip('/')}/{self.kind}/{self.service}"

    def __str__(self) -> str:
        return f"{self.kind}/{self.service}"


def parse_key(prefix: str, key: str) -> DocumentId | None:
    """Name the document a KV key holds.

    Returns None for keys that hold no document: outside the prefix, the prefix itself, or a
    folder (a key ending in `/`, as the Consul UI creates). Raises InvalidDocument for a key under
    the prefix that cannot be a document (unknown kind, bad service name, extra path segments),
    so a typo in a key is reported rather than silently ignored.
    """
    base = prefix.strip("/")
    path = key.lstrip("/")
    if base and not path.startswith(base + "/"):
        return None
    rest = path[len(base) + 1 :] if base else path
    if not rest or rest.endswith("/"):
        return None
    parts = rest.split("/")
    if len(parts) != 2:
        expected = f"{base}/<kind>/<service>" if base else "<kind>/<service>"
        raise _malformed(key, f"expected {expected}, got {len(parts)} segment(s) after the prefix")
    kind, service = parts
    if kind not in KINDS:
        raise _malformed(key, _unknown_kind(kind))
    if not is_valid_service_name(service):
        raise _malformed(
            key,
            f"{service!r} is not a service name (letters, digits and dashes, at most 63 characters, "
            "starting and ending with a letter or digit)",
        )
    return DocumentId(kind, service)


def _unknown_kind(kind: str) -> str:
    if kind in _OTHER_CONSUL_KINDS:
        return f"{kind!r} is not read from KV: {_OTHER_CONSUL_KINDS[kind]}"
    close = difflib.get_close_matches(kind.lower(), KINDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown kind {kind!r}{hint}; expected one of {', '.join(KINDS)}"


def _malformed(key: str, message: str) -> InvalidDocument:
    return InvalidDocument(source=key, problems=[Problem("", message)])
