"""The token auth method (`auth/token/`): create, lookup, renew and revoke service tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mesh.devstack.vault.acl import ROOT_POLICY
from mesh.devstack.vault.policy_store import PolicyStore
from mesh.devstack.vault.routes import Request, Route, route
from mesh.devstack.vault.tokens import Token, TokenStore, sanitize_policies
from mesh.devstack.vault.ttl import MountLimits, TTLError
from mesh.devstack.vault.wire import Reply, VaultError, bad_request


class TokenBackend:
    def __init__(
        self,
        tokens: TokenStore,
        policies: PolicyStore,
        limits: Callable[[], MountLimits],
        now: Callable[[], float],
    ) -> None:
        self.tokens = tokens
        self.policies = policies
        self.limits = limits
        self.now = now
        self._routes = [
            route(r"create", write=self._create),
            route(r"lookup-self", read=self._lookup_self, write=self._lookup_self),
            route(r"lookup", write=self._lookup),
            route(r"lookup-accessor", write=self._lookup_accessor),
            route(r"renew-self", write=self._renew_self),
            route(r"renew", write=self._renew),
            route(r"revoke-self", write=self._revoke_self),
            route(r"revoke", write=self._revoke),
        ]

    def routes(self) -> Sequence[Route]:
        return self._routes

    def _create(self, req: Request) -> Reply:
        parent = _caller(req)
        body = req.body
        is_root = ROOT_POLICY in parent.policies
        privileged = is_root or self.policies.acl(parent.policies).allows("auth/token/create", "update", sudo=True)
        requested = body.strings("policies")
        if requested:
            wanted = sanitize_policies(requested, add_default=False)
            if not is_root and not set(wanted) <= set(parent.policies) | {"default"}:
                raise bad_request("child policies must be subset of parent")
        else:
            wanted = list(parent.policies)
        no_parent = body.flag("no_parent", False)
        if no_parent and not privileged:
            raise bad_request("root or sudo privileges required to create orphan token")
        period = body.ttl("period")
        if period and not privileged:
            raise bad_request("root or sudo privileges required to create periodic token")
        if body.text("type", "service") not in ("service", "default"):
            raise bad_request("the devstack Vault only issues service tokens")
        token_id = body.text("id") or None
        if token_id and not is_root:
            raise bad_request("root or sudo privileges required to specify token id")
        try:
            token, warnings = self.tokens.issue(
                policies=sanitize_policies(wanted, add_default=not body.flag("no_default_policy", False)),
                path="auth/token/create",
                display_name="token-" + body.text("display_name", "") if body.text("display_name") else "token",
                limits=self.limits(),
                ttl=body.ttl("ttl"),
                explicit_max_ttl=body.ttl("explicit_max_ttl"),
                period=period,
                renewable=body.flag("renewable", True),
                parent=None if no_parent else parent,
                meta={str(k): str(v) for k, v in body.mapping("meta").items()} or None,
                num_uses=body.integer("num_uses", 0),
                token_id=token_id,
            )
        except TTLError as exc:
            raise bad_request(str(exc)) from None
        return Reply(auth=token.auth_block(), warnings=warnings)

    def _lookup_self(self, req: Request) -> Reply:
        return Reply(data=_caller(req).lookup_data(self.now()))

    def _lookup(self, req: Request) -> Reply:
        return Reply(data=self._named(req.body.text("token")).lookup_data(self.now()))

    def _lookup_accessor(self, req: Request) -> Reply:
        token = self.tokens.by_accessor(req.body.text("accessor"))
        if token is None:
            raise VaultError(400, ["invalid accessor"])
        data: dict[str, Any] = token.lookup_data(self.now())
        data["id"] = ""
        return Reply(data=data)

    def _renew_self(self, req: Request) -> Reply:
        return self._renew_token(_caller(req), req)

    def _renew(self, req: Request) -> Reply:
        return self._renew_token(self._named(req.body.text("token")), req)

    def _renew_token(self, token: Token, req: Request) -> Reply:
        if not token.renewable:
            raise bad_request("lease is not renewable")
        try:
            warnings = self.tokens.renew(token, req.body.ttl("increment"), limits=self.limits())
        except TTLError as exc:
            raise bad_request(str(exc)) from None
        return Reply(auth=token.auth_block(), warnings=warnings)

    def _revoke_self(self, req: Request) -> None:
        self.tokens.revoke(_caller(req).id)

    def _revoke(self, req: Request) -> None:
        self.tokens.revoke(self._named(req.body.text("token")).id)

    def _named(self, token_id: str) -> Token:
        if not token_id:
            raise bad_request("missing token")
        token = self.tokens.lookup(token_id)
        if token is None:
            raise VaultError(403, ["bad token"])
        return token


def _caller(req: Request) -> Token:
    assert req.token is not None, "token routes are authenticated"
    return req.token
