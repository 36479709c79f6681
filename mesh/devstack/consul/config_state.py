"""Config entries: stored generically by (Kind, Name), `service-intentions` in full.

Reads of one entry or a list carry the `config-entries` table index, as Consul's do; a
watch wakes only for writes to the entry (or kind) it reads, and then returns, its index
having moved.

Validation is light for most kinds (Kind and Name present, proxy-defaults named
"global") and complete for service-intentions, including Consul's cross-entry rule:
L7 Permissions need the destination's protocol (service-defaults, else the global
proxy-defaults `Config.protocol`, else "tcp") to be http, http2 or grpc.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mesh.devstack.consul import intentions
from mesh.devstack.consul.indexes import CONFIG_ENTRIES, Indexes
from mesh.devstack.consul.watchkeys import config_write

SERVICE_INTENTIONS = "service-intentions"
SERVICE_DEFAULTS = "service-defaults"
PROXY_DEFAULTS = "proxy-defaults"
KNOWN_KINDS = frozenset(
    {
        "service-defaults",
        "proxy-defaults",
        "service-router",
        "service-splitter",
        "service-resolver",
        "service-intentions",
        "ingress-gateway",
        "terminating-gateway",
        "mesh",
        "exported-services",
        "sameness-group",
        "api-gateway",
        "http-route",
        "tcp-route",
        "inline-certificate",
        "file-system-certificate",
        "jwt-provider",
        "control-plane-request-limit",
    }
)
_HTTP_LIKE = frozenset({"http", "http2", "grpc"})
# Top-level keys Consul reads for every kind; other keys are kept as sent.
_COMMON = {"kind": "Kind", "name": "Name", "meta": "Meta", "protocol": "Protocol", "config": "Config"}


class ConfigEntryError(ValueError):
    """An entry Consul would refuse; `status` is the HTTP status Consul answers with."""

    def __init__(self, message: str, status: int = 500) -> None:
        self.status = status
        super().__init__(message)


def decode_entry(raw: Any) -> dict[str, Any]:
    """The request body as an entry with canonical top-level keys (400 on a bad kind)."""
    if not isinstance(raw, Mapping):
        raise ConfigEntryError("Request decoding failed: Payload does not contain a kind/Kind key", 400)
    entry = {_COMMON.get(str(k).replace("_", "").lower(), str(k)): v for k, v in raw.items()}
    kind = entry.get("Kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigEntryError("Request decoding failed: Payload does not contain a kind/Kind key", 400)
    if kind not in KNOWN_KINDS:
        raise ConfigEntryError(f"Request decoding failed: invalid config entry kind: {kind}", 400)
    if kind == SERVICE_INTENTIONS:
        try:
            return intentions.normalize_entry(entry)
        except ValueError as exc:
            raise ConfigEntryError(f"Request decoding failed: {exc}", 400) from None
    entry.pop("CreateIndex", None)
    entry.pop("ModifyIndex", None)
    return entry


class ConfigState:
    def __init__(self, indexes: Indexes) -> None:
        self._ix = indexes
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def index(self) -> int:
        return self._ix.table(CONFIG_ENTRIES)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._entries.get((kind, name))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for (k, _), e in sorted(self._entries.items()) if k == kind]

    def apply(self, entry: dict[str, Any], cas: int | None = None) -> bool:
        """Upsert; with `cas`, only if the entry's ModifyIndex matches (0: only if absent)."""
        kind, name = str(entry["Kind"]), str(entry.get("Name") or "")
        self._validate(kind, name, entry)
        existing = self._entries.get((kind, name))
        if cas is not None:
            if cas == 0 and existing is not None:
                return False
            if cas != 0 and (existing is None or existing["ModifyIndex"] != cas):
                return False
        index = self._ix.next()
        stored = dict(entry)
        stored["CreateIndex"] = existing["CreateIndex"] if existing else index
        stored["ModifyIndex"] = index
        self._entries[(kind, name)] = stored
        self._ix.commit(index, config_write([(kind, name)]))
        return True

    def delete(self, kind: str, name: str, cas: int | None = None) -> bool:
        existing = self._entries.get((kind, name))
        if existing is None:
            return cas is None or cas == 0
        if cas is not None and existing["ModifyIndex"] != cas:
            return False
        self._validate_l7_protocols({(kind, name): None})
        index = self._ix.next()
        del self._entries[(kind, name)]
        self._ix.commit(index, config_write([(kind, name)]))
        return True

    def replicate(self, primary: ConfigState) -> None:
        """Make this secondary datacenter's entries the primary's: each entry that differs (or is
        gone) is written here with this datacenter's next index, as Consul's replication applies
        them through the secondary's own Raft log; what did not change keeps its indexes."""
        wanted = {key: _content(entry) for key, entry in primary._entries.items()}
        for key in sorted(self._entries.keys() - wanted.keys()):
            del self._entries[key]
            self._ix.commit(self._ix.next(), config_write([key]))
        for key, content in sorted(wanted.items()):
            existing = self._entries.get(key)
            if existing is not None and _content(existing) == content:
                continue
            index = self._ix.next()
            content["CreateIndex"] = existing["CreateIndex"] if existing else index
            content["ModifyIndex"] = index
            self._entries[key] = content
            self._ix.commit(index, config_write([key]))

    # -- validation ---------------------------------------------------------------

    def _validate(self, kind: str, name: str, entry: Mapping[str, Any]) -> None:
        if not name:
            raise ConfigEntryError("Name is required")
        if kind == PROXY_DEFAULTS and name != "global":
            raise ConfigEntryError(f'invalid name ("{name}"), only "global" is supported')
        if kind == SERVICE_INTENTIONS:
            try:
                intentions.validate_entry(entry)
            except intentions.IntentionError as exc:
                raise ConfigEntryError(str(exc)) from None
        self._validate_l7_protocols({(kind, name): entry})

    def _validate_l7_protocols(self, overrides: Mapping[tuple[str, str], Mapping[str, Any] | None]) -> None:
        """Refuse a write (or delete: None) that leaves L7 permissions on a non-HTTP service."""
        view: dict[tuple[str, str], Mapping[str, Any]] = dict(self._entries)
        for key, value in overrides.items():
            if value is None:
                view.pop(key, None)
            else:
                view[key] = value
        for (kind, name), entry in view.items():
            if kind != SERVICE_INTENTIONS or name == intentions.WILDCARD or not intentions.has_permissions(entry):
                continue
            protocol = _protocol(view, name)
            if protocol not in _HTTP_LIKE:
                raise ConfigEntryError(
                    f'service "{name}" has protocol "{protocol}", which is incompatible with L7 intentions permissions'
                )


def _content(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry without the indexes of the datacenter that stores it (a copy)."""
    return {k: copy.deepcopy(v) for k, v in entry.items() if k not in ("CreateIndex", "ModifyIndex")}


def _protocol(entries: Mapping[tuple[str, str], Mapping[str, Any]], service: str) -> str:
    defaults = entries.get((SERVICE_DEFAULTS, service))
    if defaults and defaults.get("Protocol"):
        return str(defaults["Protocol"]).lower()
    proxy = entries.get((PROXY_DEFAULTS, "global"))
    config = proxy.get("Config") if proxy else None
    if isinstance(config, Mapping) and config.get("protocol"):
        return str(config["protocol"]).lower()
    return "tcp"
