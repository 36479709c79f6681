"""The Consul calls meshctl makes (py-consul's sync client), with errors mapped at the edge.

Where Consul is and which token to send follow Consul's own CLI: `--consul-addr` or
`CONSUL_HTTP_ADDR`, `--token-file` or `CONSUL_HTTP_TOKEN` (then `CONSUL_HTTP_TOKEN_FILE`),
`--ca-file` or `CONSUL_CACERT`. The token is only ever sent to Consul, never printed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import consul
import requests

from mesh.cli.errors import Refused
from mesh.errors import ConsulRefused, ConsulUnavailable

DEFAULT_CONSUL = "http://127.0.0.1:8500"
_TIMEOUT = 10.0
MAX_TXN_OPS = 64  # Consul's limit on operations in one /v1/txn (agent/txn_endpoint.go maxTxnOps)


@dataclass(frozen=True)
class ConsulTarget:
    address: str
    token: str | None = None
    ca_file: str | None = None

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log line
        return f"ConsulTarget(address={self.address!r}, token={'<set>' if self.token else None})"


def resolve_target(
    address: str | None, token_file: str | None, ca_file: str | None, env: Mapping[str, str]
) -> ConsulTarget:
    """Flags first, then Consul's environment variables, then the local default."""
    addr = address or env.get("CONSUL_HTTP_ADDR") or DEFAULT_CONSUL
    if "://" not in addr:
        addr = f"http://{addr}"  # Consul's CLI accepts host:port alone
    token: str | None = None
    if token_file:
        token = _read_token(token_file, "--token-file")
    elif env.get("CONSUL_HTTP_TOKEN"):
        token = env["CONSUL_HTTP_TOKEN"].strip()
    elif env.get("CONSUL_HTTP_TOKEN_FILE"):
        token = _read_token(env["CONSUL_HTTP_TOKEN_FILE"], "CONSUL_HTTP_TOKEN_FILE")
    return ConsulTarget(addr, token or None, ca_file or env.get("CONSUL_CACERT") or None)


def _read_token(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Refused(f"cannot read the Consul token from {path} ({where}): {exc.strerror}") from None


@dataclass(frozen=True)
class KvEntry:
    key: str
    value: bytes
    modify_index: int


@dataclass(frozen=True)
class CasWrite:
    """One `cas` operation of a transaction: write `value` only if `key` is still at `modify_index` (0: absent)."""

    key: str
    value: bytes
    modify_index: int


@dataclass(frozen=True)
class TxnOutcome:
    """What Consul answered to a transaction: the index it was applied at, or the failed operations.

    `errors` pairs each failed operation's position in the request with Consul's reason; when
    there are any, Consul applied none of the operations.
    """

    index: int = 0
    errors: tuple[tuple[int, str], ...] = ()


@contextmanager
def consul_errors(what: str, address: str) -> Iterator[None]:
    """Translate py-consul and requests errors into the project's own."""
    try:
        yield
    except (consul.ACLPermissionDenied, consul.ACLDisabled) as exc:
        raise ConsulRefused(f"{what}: Consul denied permission ({_first_line(exc)}); check the token", 403) from None
    except consul.NotFound as exc:
        raise ConsulRefused(f"{what}: not found ({_first_line(exc)})", 404) from None
    except consul.Timeout:
        raise ConsulUnavailable(f"{what}: Consul at {address} timed out") from None
    except consul.ConsulException as exc:
        text = _first_line(exc)
        status = int(text[:3]) if text[:3].isdigit() else 500
        if status >= 500:
            raise ConsulUnavailable(f"{what}: Consul at {address} answered {text}") from None
        raise ConsulRefused(f"{what}: Consul refused: {text}", status) from None
    except (requests.RequestException, OSError) as exc:
        raise ConsulUnavailable(f"{what}: cannot reach Consul at {address} ({type(exc).__name__})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


class ConsulApi:
    """The handful of reads and writes meshctl needs, each one request, no retries."""

    def __init__(self, target: ConsulTarget) -> None:
        url = urlsplit(target.address)
        scheme = url.scheme or "http"
        self.address = target.address
        self._client = consul.Consul(
            host=url.hostname or "127.0.0.1",
            port=url.port or (8501 if scheme == "https" else 8500),
            scheme=scheme,
            token=target.token,
            verify=target.ca_file or True,
            connections_timeout=_TIMEOUT,
        )

    def kv_get(self, key: str) -> KvEntry | None:
        with consul_errors(f"reading {key}", self.address):
            _index, entry = self._client.kv.get(key)
        return None if entry is None else _entry(entry)

    def kv_list(self, prefix: str) -> list[KvEntry]:
        """Every key under `prefix/` (folders included), in key order."""
        return sorted((_entry(e) for e in self.kv_listing(prefix)), key=lambda e: e.key)

    def kv_listing(self, prefix: str) -> list[dict[str, Any]]:
        """The recursive listing of `prefix/` as py-consul returns it (what the agents' KV watch reads)."""
        with consul_errors(f"listing {prefix}/", self.address):
            _index, entries = self._client.kv.get(prefix.strip("/") + "/", recurse=True)
        return list(entries or ())

    def datacenter(self) -> str:
        """The datacenter of the Consul agent meshctl talks to (the agents' default too)."""
        with consul_errors("reading the Consul agent's datacenter", self.address):
            info = self._client.agent.self()
        return str((info.get("Config") or {}).get("Datacenter") or "dc1")

    def kv_put_cas(self, key: str, value: bytes, modify_index: int) -> bool:
        """Write only if the key's ModifyIndex is still `modify_index` (0: only if absent)."""
        with consul_errors(f"writing {key}", self.address):
            return bool(self._client.kv.put(key, value, cas=modify_index))

    def kv_delete_cas(self, key: str, modify_index: int) -> bool:
        with consul_errors(f"deleting {key}", self.address):
            return bool(self._client.kv.delete(key, cas=modify_index))

    def kv_txn_cas(self, writes: Sequence[CasWrite]) -> TxnOutcome:
        """Apply every write in one `/v1/txn`, all or none (at most MAX_TXN_OPS of them).

        The request is made here rather than through py-consul's `txn.put`, which sends no ACL
        token and raises on the 409 that carries which operation failed.
        """
        payload = [
            {"KV": {"Verb": "cas", "Key": w.key, "Value": base64.b64encode(w.value).decode(), "Index": w.modify_index}}
            for w in writes
        ]
        what = f"writing {len(writes)} document(s) in one transaction"
        http = self._client.http
        with consul_errors(what, self.address):
            response = http.put(
                lambda r: r, "/v1/txn", data=json.dumps(payload), headers=self._client.prepare_headers()
            )
            if response.code not in (200, 409):
                consul.callback.CB._status(response, allow_404=False)
                raise consul.ConsulException(f"{response.code} {response.body}")
        return _txn_outcome(response.code, response.body, what, self.address)

    def intentions(self) -> list[dict[str, Any]]:
        """`/v1/connect/intentions`, the same source the agents watch."""
        with consul_errors("reading intentions", self.address):
            raw = self._client.connect.intentions.list()
        if not isinstance(raw, list):
            raise ConsulUnavailable(f"reading intentions: Consul at {self.address} answered a non-list")
        return raw

    def catalog_services(self) -> list[str]:
        """`/v1/catalog/services`: the name of every registered service, proxies included."""
        with consul_errors("listing the services", self.address):
            _index, services = self._client.catalog.services()
        return sorted(services or {})

    def connect_health(self, service: str, datacenter: str | None = None) -> list[dict[str, Any]]:
        """`/v1/health/connect/<service>`: every instance with its checks, as the agents read it."""
        with consul_errors(f"reading the instances of {service}", self.address):
            _index, entries = self._client.health.connect(service, dc=datacenter)
        return list(entries or ())


def _entry(raw: dict[str, Any]) -> KvEntry:
    value = raw.get("Value")
    if isinstance(value, str):
        value = value.encode()
    return KvEntry(key=str(raw["Key"]), value=value or b"", modify_index=int(raw.get("ModifyIndex", 0)))


def _txn_outcome(code: int, body: str, what: str, address: str) -> TxnOutcome:
    """Consul's answer to /v1/txn: 200 `{"Results": [{"KV": {..."ModifyIndex"}}]}` or 409 `{"Errors": [...]}`."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConsulUnavailable(f"{what}: Consul at {address} answered {code} without a JSON object")
    if code == 409:
        errors = tuple(
            (int(e.get("OpIndex", -1)), str(e.get("What", "")))
            for e in data.get("Errors") or ()
            if isinstance(e, dict) and isinstance(e.get("OpIndex", -1), int)
        )
        return TxnOutcome(errors=errors or ((-1, "Consul refused the transaction without saying why"),))
    indexes = [
        r["KV"].get("ModifyIndex")
        for r in data.get("Results") or ()
        if isinstance(r, dict) and isinstance(r.get("KV"), dict)
    ]
    return TxnOutcome(index=max((i for i in indexes if isinstance(i, int)), default=0))
