"""The AppRole auth method: roles, RoleIDs, SecretIDs and login, as Vault's approle backend.

A login answers with an `auth` block like Vault's (policies include `default` unless
`token_no_default_policy`, `metadata.role_name`, an orphan renewable service token). A wrong
RoleID or SecretID is `400 invalid role or secret ID`, whichever was wrong, as Vault answers.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.routes import Request, Route, route
from mesh.devstack.vault.tokens import TokenStore, entity_id_for, rfc3339, sanitize_policies
from mesh.devstack.vault.ttl import MountLimits, TTLError
from mesh.devstack.vault.wire import Reply, bad_request
from mesh.durations import format_go_duration

_NAME = r"(?P<name>\w(?:[\w.-]*\w)?)"
_INVALID = "invalid role or secret ID"


@dataclass
class AppRoleRole:
    name: str
    role_id: str
    bind_secret_id: bool = True
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    secret_id_bound_cidrs: list[str] = field(default_factory=list)
    token_policies: list[str] = field(default_factory=list)
    token_ttl: int = 0
    token_max_ttl: int = 0
    token_explicit_max_ttl: int = 0
    token_period: int = 0
    token_no_default_policy: bool = False
    token_num_uses: int = 0
    token_bound_cidrs: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return {
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": False,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_num_uses": self.token_num_uses,
            "token_period": self.token_period,
            "token_policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_type": "default",
            # Legacy mirrors Vault still returns.
            "policies": self.token_policies,
            "period": self.token_period,
        }


@dataclass
class SecretId:
    accessor: str
    role: str
    created: float
    ttl: int
    num_uses: int
    metadata: dict[str, str]

    def expired(self, now: float) -> bool:
        return self.ttl > 0 and now >= self.created + self.ttl


class AppRoleBackend:
    def __init__(
        self,
        mount_path: str,
        tokens: TokenStore,
        limits: Callable[[], MountLimits],
        now: Callable[[], float],
    ) -> None:
        self.mount_path = mount_path
        self.tokens = tokens
        self.limits = limits
        self.now = now
        self.roles: dict[str, AppRoleRole] = {}
        self.secret_ids: dict[str, SecretId] = {}
        self._routes = [
            route(r"login", write=self._login, unauthenticated=True),
            route(r"role/?", list_=self._list_roles),
            route(
                rf"role/{_NAME}",
                read=self._read_role,
                write=self._write_role,
                delete=self._delete_role,
                exists=lambda r: r.params["name"].lower() in self.roles,
            ),
            route(rf"role/{_NAME}/role-id", read=self._read_role_id, write=self._write_role_id),
            route(rf"role/{_NAME}/secret-id/?", write=self._new_secret_id, list_=self._list_secret_ids),
            route(rf"role/{_NAME}/secret-id/lookup", write=self._lookup_secret_id),
            route(rf"role/{_NAME}/secret-id/destroy", write=self._destroy_secret_id),
        ]

    def routes(self) -> Sequence[Route]:
        return self._routes

    def _role(self, req: Request) -> AppRoleRole | None:
        return self.roles.get(req.params["name"].lower())

    def _existing_role(self, req: Request) -> AppRoleRole:
        role = self._role(req)
        if role is None:
            raise bad_request(f'role "{req.params["name"]}" does not exist')
        return role

    def _list_roles(self, req: Request) -> Reply | None:
        return Reply(data={"keys": sorted(self.roles)}) if self.roles else None

    def _read_role(self, req: Request) -> Reply | None:
        role = self._role(req)
        return Reply(data=role.to_data()) if role else None

    def _write_role(self, req: Request) -> Reply | None:
        name = req.params["name"].lower()
        existing = self.roles.get(name)
        # Validate a copy, so a refused update leaves the stored role untouched.
        role = copy.copy(existing) if existing else AppRoleRole(name=name, role_id=str(uuid.uuid4()))
        role.role_id = req.body.text("role_id", role.role_id)
        _apply_role_fields(role, req.body)
        if not role.bind_secret_id and not role.secret_id_bound_cidrs:
            raise bad_request("at least one constraint should be enabled on the role")
        if role.token_max_ttl and role.token_ttl > role.token_max_ttl:
            raise bad_request("token_ttl should not be greater than token_max_ttl")
        limits = self.limits()
        if role.token_period > limits.max_ttl:
            raise bad_request(
                f'period of "{format_go_duration(role.token_period)}" is greater than the backend\'s maximum lease TTL '
                f'of "{format_go_duration(limits.max_ttl)}"'
            )
        self.roles[name] = role
        if role.token_max_ttl > limits.max_ttl:
            return Reply(
                warnings=[
                    "token_max_ttl is greater than the backend mount's maximum TTL value; "
                    "issued tokens' max TTL value will be truncated"
                ]
            )
        return None

    def _delete_role(self, req: Request) -> None:
        name = req.params["name"].lower()
        self.roles.pop(name, None)
        for key in [k for k, s in self.secret_ids.items() if s.role == name]:
            del self.secret_ids[key]

    def _read_role_id(self, req: Request) -> Reply | None:
        role = self._role(req)
        return Reply(data={"role_id": role.role_id}) if role else None

    def _write_role_id(self, req: Request) -> None:
        role = self._existing_role(req)
        role_id = req.body.text("role_id")
        if not role_id:
            raise bad_request("missing role_id")
        role.role_id = role_id

    def _new_secret_id(self, req: Request) -> Reply:
        role = self._existing_role(req)
        body = req.body
        metadata = body.raw("metadata")
        if isinstance(metadata, str) and metadata:
            try:
                metadata = json.loads(metadata)
            except json.JSONDecodeError:
                raise bad_request("failed to parse metadata") from None
        secret = secrets.token_hex(16)
        secret = f"{secret[:8]}-{secret[8:12]}-{secret[12:16]}-{secret[16:20]}-{secret[20:]}"
        entry = SecretId(
            accessor=str(uuid.uuid4()),
            role=role.name,
            created=self.now(),
            ttl=body.ttl("ttl", role.secret_id_ttl) or role.secret_id_ttl,
            num_uses=body.integer("num_uses", role.secret_id_num_uses),
            metadata={str(k): str(v) for k, v in (metadata or {}).items()},
        )
        self.secret_ids[secret] = entry
        return Reply(
            data={
                "secret_id": secret,
                "secret_id_accessor": entry.accessor,
                "secret_id_ttl": entry.ttl,
                "secret_id_num_uses": entry.num_uses,
            }
        )

    def _list_secret_ids(self, req: Request) -> Reply | None:
        role = self._existing_role(req)
        keys = [s.accessor for s in self.secret_ids.values() if s.role == role.name]
        return Reply(data={"keys": keys}) if keys else None

    def _lookup_secret_id(self, req: Request) -> Reply | None:
        role = self._existing_role(req)
        entry = self.secret_ids.get(req.body.text("secret_id"))
        if entry is None or entry.role != role.name or entry.expired(self.now()):
            return None
        return Reply(
            data={
                "secret_id_accessor": entry.accessor,
                "secret_id_num_uses": entry.num_uses,
                "secret_id_ttl": entry.ttl,
                "creation_time": rfc3339(entry.created),
                "expiration_time": rfc3339(entry.created + entry.ttl) if entry.ttl else "0001-01-01T00:00:00Z",
                "metadata": entry.metadata,
                "cidr_list": [],
                "token_bound_cidrs": [],
            }
        )

    def _destroy_secret_id(self, req: Request) -> None:
        role = self._existing_role(req)
        secret = req.body.text("secret_id")
        entry = self.secret_ids.get(secret)
        if entry is not None and entry.role == role.name:
            del self.secret_ids[secret]

    def _login(self, req: Request) -> Reply:
        body = req.body
        role_id = body.text("role_id").strip()
        if not role_id:
            raise bad_request("missing role_id")
        role = next((r for r in self.roles.values() if r.role_id == role_id), None)
        if role is None:
            raise bad_request(_INVALID)
        metadata: dict[str, str] = {}
        if role.bind_secret_id:
            secret = body.text("secret_id").strip()
            if not secret:
                raise bad_request("missing secret_id")
            entry = self.secret_ids.get(secret)
            if entry is None or entry.role != role.name or entry.expired(self.now()):
                self.secret_ids.pop(secret, None)
                raise bad_request(_INVALID)
            if entry.num_uses == 1:
                del self.secret_ids[secret]
            elif entry.num_uses > 1:
                entry.num_uses -= 1
            metadata = dict(entry.metadata)
        metadata["role_name"] = role.name
        try:
            token, warnings = self.tokens.issue(
                policies=sanitize_policies(role.token_policies, add_default=not role.token_no_default_policy),
                path=f"{self.mount_path}login",
                display_name=self.mount_path.removeprefix("auth/").strip("/"),
                limits=self.limits(),
                ttl=role.token_ttl,
                max_ttl=role.token_max_ttl,
                explicit_max_ttl=role.token_explicit_max_ttl,
                period=role.token_period,
                meta=metadata,
                num_uses=role.token_num_uses,
                entity_id=entity_id_for(f"{self.mount_path}{role.role_id}"),
            )
        except TTLError as exc:
            raise bad_request(str(exc)) from None
        return Reply(auth=token.auth_block(), warnings=warnings)


def _apply_role_fields(role: AppRoleRole, body: Body) -> None:
    """Set the fields a write names; on an update the others keep their value (Vault's approle)."""
    role.bind_secret_id = body.flag("bind_secret_id", role.bind_secret_id)
    role.secret_id_num_uses = body.integer("secret_id_num_uses", role.secret_id_num_uses)
    role.secret_id_ttl = body.ttl("secret_id_ttl", role.secret_id_ttl)
    role.secret_id_bound_cidrs = body.strings("secret_id_bound_cidrs", tuple(role.secret_id_bound_cidrs))
    if body.has("token_policies") or body.has("policies"):
        role.token_policies = body.strings("token_policies" if body.has("token_policies") else "policies")
    role.token_ttl = body.ttl("token_ttl", role.token_ttl)
    role.token_max_ttl = body.ttl("token_max_ttl", role.token_max_ttl)
    role.token_explicit_max_ttl = body.ttl("token_explicit_max_ttl", role.token_explicit_max_ttl)
    role.token_period = body.ttl("token_period", body.ttl("period", role.token_period))
    role.token_no_default_policy = body.flag("token_no_default_policy", role.token_no_default_policy)
    role.token_num_uses = body.integer("token_num_uses", role.token_num_uses)
    role.token_bound_cidrs = body.strings("token_bound_cidrs", tuple(role.token_bound_cidrs))
    if body.text("token_type", "default") not in ("default", "service"):
        raise bad_request("the devstack Vault only issues service tokens")
    if body.strings("secret_id_bound_cidrs") or body.strings("token_bound_cidrs"):
        raise bad_request("CIDR bindings are not supported by the devstack Vault")
