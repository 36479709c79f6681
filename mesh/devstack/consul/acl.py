"""ACL state: tokens and policies as Consul keeps them, and the authorizer of a secret.

ACLs are on when the server has a management secret (Consul's `tokens.initial_management`);
`default_policy` is what applies where no rule does (Consul's recommended production
setting, and the default here, is deny). The state holds:
- the builtin `global-management` policy (ID ...0001: everything) and the policies written
  over /v1/acl/policy, whose rules are Consul's rule language (acl_rules.py);
- the builtin anonymous token (AccessorID ...0002, SecretID `anonymous`), which every request
  without a token uses; it has no policies until an operator links some, as in Consul;
- the initial management token, and the tokens written over /v1/acl/token, each linking
  policies (by ID; links to a deleted policy drop out), service identities and node
  identities, whose rules Consul generates (acl_rules.service_identity / node_identity).

Policies with `Datacenters`, service identities with `Datacenters` and node identities (always
bound to one datacenter) apply only in those. Each datacenter's server keeps its own ACL state:
Consul's ACL replication between datacenters is not modelled.

Validation failures are ACLError with Consul's text; the 500 status is Consul's too, since its
ACL RPCs return plain errors.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mesh.devstack.consul.acl_authz import ANONYMOUS_ACCESSOR, Authorizer, PermissionDenied
from mesh.devstack.consul.acl_rules import ACLRuleError, Rules, node_identity, parse_rules, service_identity
from mesh.devstack.consul.indexes import ACL_TOKENS, Indexes

MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001"
MANAGEMENT_POLICY_NAME = "global-management"
ANONYMOUS_SECRET = "anonymous"
ACL_NOT_FOUND = "ACL not found"
RESERVED_PREFIX = "00000000-0000-0000-0000-0000000000"
ACL_POLICIES = "acl-policies"

READ = "read"
WRITE = "write"

_POLICY_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,128}$")
_IDENTITY_NAME = re.compile(r"^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$")

__all__ = ["ACL_NOT_FOUND", "ACLError", "ACLState", "PermissionDenied", "Policy", "Token"]


class ACLError(Exception):
    def __init__(self, text: str, status: int = 500) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class ServiceIdentity:
    name: str
    datacenters: tuple[str, ...] = ()

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ServiceName": self.name}
        if self.datacenters:
            out["Datacenters"] = list(self.datacenters)
        return out


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    datacenter: str

    def render(self) -> dict[str, Any]:
        return {"NodeName": self.name, "Datacenter": self.datacenter}


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    description: str = ""
    rules: str = ""
    datacenters: tuple[str, ...] = ()
    parsed: Rules = dataclasses.field(default_factory=Rules, compare=False, repr=False)
    create_index: int = 0
    modify_index: int = 0

    @property
    def hash(self) -> str:
        return _hash(self.name, self.description, self.rules, *self.datacenters)

    def stub(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Description": self.description,
            "Datacenters": list(self.datacenters) or None,
            "Hash": self.hash,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def render(self) -> dict[str, Any]:
        out = self.stub()
        out["Rules"] = self.rules
        return out


@dataclass(frozen=True)
class Token:
    accessor_id: str
    secret_id: str
    description: str = ""
    policy_ids: tuple[str, ...] = ()
    service_identities: tuple[ServiceIdentity, ...] = ()
    node_identities: tuple[NodeIdentity, ...] = ()
    local: bool = False
    create_time: str = ""
    create_index: int = 0
    modify_index: int = 0

    @property
    def management(self) -> bool:
        return MANAGEMENT_POLICY_ID in self.policy_ids

    @property
    def hash(self) -> str:
        parts = [*self.policy_ids, *(s.name for s in self.service_identities), *(n.name for n in self.node_identities)]
        return _hash(self.description, *parts)


def _hash(*parts: str) -> str:
    return base64.b64encode(hashlib.sha256("\0".join(parts).encode()).digest()).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class ACLState:
    def __init__(
        self, indexes: Indexes, management_secret: str | None, *, datacenter: str = "dc1", default_policy: str = "deny"
    ) -> None:
        if default_policy not in ("allow", "deny"):
            raise ValueError(f"default_policy must be allow or deny, not {default_policy!r}")
        self._ix = indexes
        self.datacenter = datacenter
        self.enabled = management_secret is not None
        self.default_policy = default_policy if self.enabled else "allow"
        self._tokens: dict[str, Token] = {}  # by accessor
        self._policies: dict[str, Policy] = {}
        self._policies[MANAGEMENT_POLICY_ID] = Policy(
            id=MANAGEMENT_POLICY_ID,
            name=MANAGEMENT_POLICY_NAME,
            description="Builtin Policy that grants unlimited access",
        )
        self._insert(Token(ANONYMOUS_ACCESSOR, ANONYMOUS_SECRET, "Anonymous Token"))
        if management_secret is not None:
            self._insert(
                Token(str(uuid.uuid4()), management_secret, "Initial Management Token", (MANAGEMENT_POLICY_ID,))
            )

    @property
    def default_allow(self) -> bool:
        return self.default_policy == "allow"

    # -- resolving -----------------------------------------------------------------------

    def resolve(self, secret: str) -> Token:
        """The token for a secret; "" is the anonymous token; an unknown one is Consul's "ACL not found"."""
        found = next((t for t in self._tokens.values() if t.secret_id == (secret or ANONYMOUS_SECRET)), None)
        if found is None:
            raise PermissionDenied(ACL_NOT_FOUND)
        return found

    def authorizer(self, secret: str) -> Authorizer:
        if not self.enabled:
            return Authorizer.disabled()
        token = self.resolve(secret)
        return Authorizer(
            accessor=token.accessor_id,
            default_allow=self.default_allow,
            management=token.management,
            rules=tuple(self._rules_of(token)),
        )

    def _rules_of(self, token: Token) -> Iterable[Rules]:
        dc = self.datacenter
        for pid in token.policy_ids:
            policy = self._policies.get(pid)
            if policy is not None and (not policy.datacenters or dc in policy.datacenters):
                yield policy.parsed
        for si in token.service_identities:
            if not si.datacenters or dc in si.datacenters:
                yield service_identity(si.name)
        for ni in token.node_identities:
            if ni.datacenter == dc:
                yield node_identity(ni.name)

    # -- tokens -----------------------------------------------------------------------------

    def tokens(self) -> list[Token]:
        return sorted(self._tokens.values(), key=lambda t: t.create_index)

    def token(self, accessor_id: str) -> Token | None:
        return self._tokens.get(accessor_id)

    def render_token(self, token: Token, *, show_secret: bool = True) -> dict[str, Any]:
        policies = [self._policies[p] for p in token.policy_ids if p in self._policies]
        out: dict[str, Any] = {
            "AccessorID": token.accessor_id,
            "SecretID": token.secret_id if show_secret else "<hidden>",
            "Description": token.description,
        }
        if policies:
            out["Policies"] = [{"ID": p.id, "Name": p.name} for p in policies]
        if token.service_identities:
            out["ServiceIdentities"] = [s.render() for s in token.service_identities]
        if token.node_identities:
            out["NodeIdentities"] = [n.render() for n in token.node_identities]
        out.update(
            {
                "Local": token.local,
                "CreateTime": token.create_time,
                "Hash": token.hash,
                "CreateIndex": token.create_index,
                "ModifyIndex": token.modify_index,
            }
        )
        return out

    def create_token(self, body: dict[str, Any]) -> Token:
        accessor = str(body.get("AccessorID") or "") or str(uuid.uuid4())
        secret = str(body.get("SecretID") or "") or str(uuid.uuid4())
        for field_name, value in (("AccessorID", accessor), ("SecretID", secret)):
            if not _uuid(value):
                raise ACLError(f"Invalid Token: {field_name} is not a valid UUID")
            if value.startswith(RESERVED_PREFIX):
                raise ACLError(f'Invalid Token: UUIDs with the prefix "{RESERVED_PREFIX}" are reserved')
            if any(value in (t.accessor_id, t.secret_id) for t in self._tokens.values()):
                raise ACLError(f"Invalid Token: {field_name} is already in use")
        token = self._token_fields(Token(accessor, secret), body)
        return self._insert(dataclasses.replace(token, create_time=_now()))

    def update_token(self, accessor_id: str, body: dict[str, Any]) -> Token:
        existing = self._tokens.get(accessor_id)
        if existing is None:
            raise ACLError(f'Cannot find token "{accessor_id}"')
        if body.get("AccessorID") and body["AccessorID"] != accessor_id:
            raise ACLError("Token Accessor ID in URL and payload do not match", status=400)
        if body.get("SecretID") and body["SecretID"] != existing.secret_id:
            raise ACLError("Changing a token's SecretID is not permitted")
        if "Local" in body and bool(body["Local"]) != existing.local:
            raise ACLError("Cannot toggle local mode of " + accessor_id)
        updated = self._token_fields(existing, body)
        return self._insert(updated, create_index=existing.create_index)

    def clone_token(self, accessor_id: str, description: str | None) -> Token:
        existing = self._tokens.get(accessor_id)
        if existing is None:
            raise PermissionDenied(ACL_NOT_FOUND)
        copy = dataclasses.replace(
            existing,
            accessor_id=str(uuid.uuid4()),
            secret_id=str(uuid.uuid4()),
            description=existing.description if description is None else description,
            create_time=_now(),
        )
        return self._insert(copy)

    def delete_token(self, accessor_id: str) -> None:
        if accessor_id == ANONYMOUS_ACCESSOR:
            raise ACLError("Deletion of the builtin anonymous token is not permitted")
        if self._tokens.pop(accessor_id, None) is not None:
            self._ix.stamp(self._ix.next(), ACL_TOKENS)

    def _token_fields(self, token: Token, body: dict[str, Any]) -> Token:
        policy_ids = tuple(dict.fromkeys(self._policy_link(link) for link in body.get("Policies") or []))
        services: list[ServiceIdentity] = []
        for item in body.get("ServiceIdentities") or []:
            name = str(item.get("ServiceName") or "")
            if not name:
                raise ACLError("Service identity is missing the service name field on this token")
            if not _IDENTITY_NAME.match(name):
                raise ACLError(
                    f"Service identity {name!r} has an invalid name. "
                    "Only lowercase alphanumeric characters, '-' and '_' are allowed"
                )
            services.append(ServiceIdentity(name, tuple(str(d) for d in item.get("Datacenters") or [])))
        nodes: list[NodeIdentity] = []
        for item in body.get("NodeIdentities") or []:
            name, dc = str(item.get("NodeName") or ""), str(item.get("Datacenter") or "")
            if not name:
                raise ACLError("Node identity is missing the node name field on this token")
            if not dc:
                raise ACLError("Node identity is missing the datacenter field on this token")
            nodes.append(NodeIdentity(name, dc))
        return dataclasses.replace(
            token,
            description=str(body.get("Description") or ""),
            policy_ids=policy_ids,
            service_identities=tuple(services),
            node_identities=tuple(nodes),
            local=bool(body.get("Local", token.local)),
        )

    def _policy_link(self, link: dict[str, Any]) -> str:
        if link.get("ID"):
            if link["ID"] not in self._policies:
                raise ACLError(f"No such ACL policy with ID {link['ID']!r}")
            return str(link["ID"])
        found = self.policy_by_name(str(link.get("Name") or ""))
        if found is None:
            raise ACLError(f"No such ACL policy with name {link.get('Name')!r}")
        return found.id

    def _insert(self, token: Token, create_index: int | None = None) -> Token:
        index = self._ix.next()
        stored = dataclasses.replace(token, create_index=create_index or index, modify_index=index)
        self._tokens[stored.accessor_id] = stored
        self._ix.stamp(index, ACL_TOKENS)
        return stored

    # -- policies ----------------------------------------------------------------------------

    def policies(self) -> list[Policy]:
        return sorted(self._policies.values(), key=lambda p: (p.create_index, p.id))

    def policy(self, policy_id: str) -> Policy | None:
        return self._policies.get(policy_id)

    def policy_by_name(self, name: str) -> Policy | None:
        return next((p for p in self._policies.values() if p.name == name), None)

    def write_policy(self, policy_id: str | None, body: dict[str, Any]) -> Policy:
        """Create (`policy_id` None) or update a policy from its JSON body."""
        existing = self._policies.get(policy_id) if policy_id else None
        if policy_id and existing is None:
            raise ACLError(f"Cannot find policy {policy_id}")
        name = str(body.get("Name") or "")
        if not name:
            raise ACLError("Invalid Policy: no Name is set")
        if not _POLICY_NAME.match(name):
            raise ACLError("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed")
        same_name = self.policy_by_name(name)
        if same_name is not None and same_name.id != policy_id:
            raise ACLError(f"Invalid Policy: A Policy with Name {name!r} already exists")
        rules = str(body.get("Rules") or "")
        if existing is not None and existing.id == MANAGEMENT_POLICY_ID:
            if rules != existing.rules:
                raise ACLError("Changing the Rules for the builtin global-management policy is not permitted")
            if name != existing.name:
                raise ACLError("Changing the Name for the builtin global-management policy is not permitted")
        try:
            parsed = parse_rules(rules)
        except ACLRuleError as exc:
            raise ACLError(f"Invalid Policy: failed to parse rules: {exc}") from None
        index = self._ix.next()
        policy = Policy(
            id=policy_id or str(uuid.uuid4()),
            name=name,
            description=str(body.get("Description") or ""),
            rules=rules,
            datacenters=tuple(str(d) for d in body.get("Datacenters") or []),
            parsed=parsed,
            create_index=existing.create_index if existing else index,
            modify_index=index,
        )
        self._policies[policy.id] = policy
        self._ix.stamp(index, ACL_POLICIES)
        return policy

    def delete_policy(self, policy_id: str) -> None:
        if policy_id == MANAGEMENT_POLICY_ID:
            raise ACLError("Delete operation not permitted on the builtin global-management policy")
        if self._policies.pop(policy_id, None) is not None:
            self._ix.stamp(self._ix.next(), ACL_POLICIES)
