"""The `sys/` endpoints that live behind authentication: mounts, auth methods, policies, seal.

`sys/health` and `sys/seal-status` answer even when sealed and without a token; they are
served by `app` directly, with `health_body`/`seal_status_body` from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mesh.devstack.vault.acl import ROOT_POLICY
from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.policy import PolicyError, parse_policy
from mesh.devstack.vault.policy_store import DEFAULT_POLICY
from mesh.devstack.vault.routes import Mount, Request, Route, route
from mesh.devstack.vault.ttl import TTLError, parse_ttl
from mesh.devstack.vault.wire import Reply, bad_request

if TYPE_CHECKING:
    from mesh.devstack.vault.state import VaultState

# The Vault release whose API the stand-in follows; the suffix tells operators it is not Vault.
VAULT_VERSION = "1.17.6+devstack"


class SysBackend:
    def __init__(self, state: VaultState) -> None:
        self.state = state
        self._routes = [
            route(r"mounts", read=self._list_mounts),
            route(r"mounts/(?P<path>.+?)/tune", read=self._read_tune, write=self._tune),
            route(r"mounts/(?P<path>.+)", read=self._read_mount, write=self._enable_mount, delete=self._disable_mount),
            route(r"auth", read=self._list_auth),
            route(r"auth/(?P<path>.+)", write=self._enable_auth, delete=self._disable_auth, sudo=True),
            route(r"policies/acl/?", list_=self._list_policies),
            route(
                r"policies/acl/(?P<name>[^/]+)",
                read=self._read_acl_policy,
                write=self._write_policy,
                delete=self._delete_policy,
                exists=lambda r: self.state.policies.get(r.params["name"]) is not None,
            ),
            route(r"policy/?", read=self._list_policies_legacy, list_=self._list_policies),
            route(
                r"policy/(?P<name>[^/]+)",
                read=self._read_policy_legacy,
                write=self._write_policy,
                delete=self._delete_policy,
                exists=lambda r: self.state.policies.get(r.params["name"]) is not None,
            ),
            route(r"capabilities-self", write=self._capabilities_self),
            route(r"seal", write=self._seal, sudo=True),
        ]

    def routes(self) -> Sequence[Route]:
        return self._routes

    # -- mounts ----------------------------------------------------------------------------

    def _list_mounts(self, req: Request) -> Reply:
        table = {m.path: _entry(m) for m in self.state.mounts.values() if not m.path.startswith("auth/")}
        return Reply(data=table, echo_data_top_level=True)

    def _read_mount(self, req: Request) -> Reply | None:
        mount = self.state.mounts.get(_slash(req.params["path"]))
        return Reply(data=_entry(mount)) if mount and not mount.path.startswith("auth/") else None

    def _enable_mount(self, req: Request) -> None:
        body = req.body
        config = Body(body.mapping("config"))
        self.state.enable_secrets(
            req.params["path"],
            body.text("type"),
            description=body.text("description"),
            default_lease_ttl=config.ttl("default_lease_ttl"),
            max_lease_ttl=config.ttl("max_lease_ttl"),
            options={str(k): str(v) for k, v in body.mapping("options").items()} or None,
        )

    def _disable_mount(self, req: Request) -> None:
        self.state.disable(_slash(req.params["path"]))

    def _mount_for_tune(self, req: Request) -> Mount:
        path = _slash(req.params["path"])
        mount = self.state.mounts.get(path) or self.state.mounts.get("auth/" + path.removeprefix("auth/"))
        if mount is None:
            raise bad_request(f"cannot fetch sysview for path {path!r}")
        return mount

    def _read_tune(self, req: Request) -> Reply:
        mount = self._mount_for_tune(req)
        limits = mount.limits()
        data: dict[str, Any] = {
            "default_lease_ttl": limits.default_ttl,
            "max_lease_ttl": limits.max_ttl,
            "force_no_cache": False,
            "description": mount.description,
        }
        if mount.options:
            data["options"] = mount.options
        return Reply(data=data, echo_data_top_level=True)

    def _tune(self, req: Request) -> None:
        mount = self._mount_for_tune(req)
        default_ttl = _tune_ttl(req.body, "default_lease_ttl", mount.default_lease_ttl)
        max_ttl = _tune_ttl(req.body, "max_lease_ttl", mount.max_lease_ttl)
        if default_ttl and max_ttl and default_ttl > max_ttl:
            raise bad_request("backend max lease TTL cannot be less than backend default lease TTL")
        mount.default_lease_ttl, mount.max_lease_ttl = default_ttl, max_ttl
        mount.description = req.body.text("description", mount.description)

    # -- auth methods ----------------------------------------------------------------------

    def _list_auth(self, req: Request) -> Reply:
        table = {
            m.path.removeprefix("auth/"): _entry(m) for m in self.state.mounts.values() if m.path.startswith("auth/")
        }
        return Reply(data=table, echo_data_top_level=True)

    def _enable_auth(self, req: Request) -> None:
        body = req.body
        self.state.enable_auth(req.params["path"], body.text("type"), description=body.text("description"))

    def _disable_auth(self, req: Request) -> None:
        self.state.disable("auth/" + _slash(req.params["path"]))

    # -- policies --------------------------------------------------------------------------

    def _list_policies(self, req: Request) -> Reply:
        return Reply(data={"keys": self.state.policies.names()})

    def _list_policies_legacy(self, req: Request) -> Reply:
        names = self.state.policies.names()
        return Reply(data={"keys": names, "policies": names}, echo_data_top_level=True)

    def _read_acl_policy(self, req: Request) -> Reply | None:
        policy = self.state.policies.get(req.params["name"])
        return Reply(data={"name": policy.name, "policy": policy.text}) if policy else None

    def _read_policy_legacy(self, req: Request) -> Reply | None:
        policy = self.state.policies.get(req.params["name"])
        if policy is None:
            return None
        return Reply(data={"name": policy.name, "rules": policy.text}, echo_data_top_level=True)

    def _write_policy(self, req: Request) -> None:
        name = req.params["name"].lower()
        if name == ROOT_POLICY:
            raise bad_request('cannot update "root" policy')
        text = req.body.text("policy") or req.body.text("rules")
        if not text.strip():
            raise bad_request("'policy' parameter not supplied or empty")
        try:
            self.state.policies.put(parse_policy(name, text))
        except PolicyError as exc:
            raise bad_request(str(exc)) from None

    def _delete_policy(self, req: Request) -> None:
        name = req.params["name"].lower()
        if name in (ROOT_POLICY, DEFAULT_POLICY):
            raise bad_request(f'cannot delete "{name}" policy')
        self.state.policies.delete(name)

    def _capabilities_self(self, req: Request) -> Reply:
        assert req.token is not None
        paths = req.body.strings("paths") or req.body.strings("path")
        acl = self.state.policies.acl(req.token.policies)
        data: dict[str, Any] = {}
        for path in paths:
            caps = ["root"] if acl.is_root else sorted(acl.capabilities(path.lstrip("/"))) or ["deny"]
            data[path] = caps
        if len(paths) == 1:
            data["capabilities"] = data[paths[0]]
        return Reply(data=data, echo_data_top_level=True)

    def _seal(self, req: Request) -> None:
        self.state.sealed = True


def health_body(state: VaultState) -> dict[str, Any]:
    body: dict[str, Any] = {
        "initialized": True,
        "sealed": state.sealed,
        "standby": state.sealed,  # a sealed node reports itself as standby
        "performance_standby": False,
        "replication_performance_mode": "unknown" if state.sealed else "disabled",
        "replication_dr_mode": "unknown" if state.sealed else "disabled",
        "server_time_utc": int(state.now()),
        "version": VAULT_VERSION,
        "enterprise": False,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
        "replication_primary_canary_age_ms": 0,
    }
    if not state.sealed:
        body["cluster_name"] = state.cluster_name
        body["cluster_id"] = state.cluster_id
    return body


def seal_status_body(state: VaultState) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "shamir",
        "initialized": True,
        "sealed": state.sealed,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": VAULT_VERSION,
        "build_date": "2024-09-25T00:00:00Z",
        "migration": False,
        "recovery_seal": False,
        "storage_type": "inmem",
    }
    if not state.sealed:
        body["cluster_name"] = state.cluster_name
        body["cluster_id"] = state.cluster_id
    return body


def _entry(mount: Mount) -> dict[str, Any]:
    config: dict[str, Any] = {
        "default_lease_ttl": mount.default_lease_ttl,
        "force_no_cache": False,
        "max_lease_ttl": mount.max_lease_ttl,
    }
    if mount.path.startswith("auth/"):
        config["token_type"] = "default-service"
    return {
        "accessor": mount.accessor,
        "config": config,
        "description": mount.description,
        "external_entropy_access": False,
        "local": False,
        "options": mount.options,
        "plugin_version": "",
        "running_plugin_version": f"v{VAULT_VERSION.split('+')[0]}+builtin.vault",
        "running_sha256": "",
        "seal_wrap": False,
        "type": mount.type,
        "uuid": mount.uuid,
    }


def _slash(path: str) -> str:
    return path.strip("/") + "/"


def _tune_ttl(body: Body, name: str, current: int) -> int:
    value = body.raw(name)
    if value is None:
        return current
    if value == "system":
        return 0
    try:
        return parse_ttl(value, name)
    except TTLError as exc:
        raise bad_request(str(exc)) from None
