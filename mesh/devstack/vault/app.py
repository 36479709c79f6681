"""HTTP in and out: turn a request into (operation, path, token), enforce seal and ACL, dispatch.

The order is Vault's: sealed answers 503 to everything but `sys/health` and `sys/seal-status`;
then a route marked unauthenticated (login, CA fetch) runs without a token; every other
request needs a valid token whose policies grant the operation on the path — checked before
the path is even known to exist, so a limited token gets 403 where root would get 404.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.routes import Operation, Request
from mesh.devstack.vault.state import VaultState
from mesh.devstack.vault.sys_backend import health_body, seal_status_body
from mesh.devstack.vault.tokens import Token
from mesh.devstack.vault.wire import (
    JSON,
    Reply,
    VaultError,
    bad_request,
    encode,
    envelope,
    invalid_token,
    missing_token,
    no_route,
    not_found,
    permission_denied,
    sealed,
    unsupported_operation,
    unsupported_path,
)

_HEALTH_CODES = {
    "activecode": 200,
    "standbycode": 429,
    "sealedcode": 503,
    "uninitcode": 501,
    "drsecondarycode": 472,
    "performancestandbycode": 473,
}


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def make_handler(state: VaultState) -> Handler:
    """The whole API as one low-level handler (see `listener` for why not an aiohttp router)."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        return await _handle(state, request)

    return handle


def make_app(state: VaultState) -> web.Application:
    """The same API as an aiohttp application. Its C parser refuses `LIST`: prefer `make_handler`."""
    handler = make_handler(state)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def _handle(state: VaultState, request: web.BaseRequest) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return _json(404, {"errors": []})
    path = request.path.removeprefix("/v1/")
    if path == "sys/health":
        return _health(state, request)
    if path == "sys/seal-status":
        return _json(200, seal_status_body(state))
    raw = await request.read()
    try:
        operation = _operation(request)
        body = _body(raw, request, operation)
        with state.lock:
            if path == "sys/unseal" and operation is Operation.UPDATE:
                return _unseal(state, body)
            return _dispatch(state, request, operation, path, body)
    except VaultError as exc:
        return _json(exc.status, {"errors": exc.errors})


def _unseal(state: VaultState, body: Body) -> web.Response:
    """`sys/unseal` with the one key share: unauthenticated, and answered while sealed."""
    if not body.flag("reset", False):
        key = body.text("key")
        if not key:
            raise bad_request("'key' must be specified in request body as JSON, or 'reset' set to true")
        if key != state.unseal_key:
            raise bad_request("Unseal failed, invalid key")
        state.sealed = False
    return _json(200, seal_status_body(state))


def _dispatch(state: VaultState, http: web.BaseRequest, operation: Operation, path: str, body: Body) -> web.Response:
    if state.sealed:
        raise sealed()
    if operation is Operation.LIST and not path.endswith("/"):
        path += "/"
    if operation is Operation.UPDATE and path.endswith("/"):
        raise bad_request("cannot write to a path ending in '/'")
    resolved = state.resolve(path)
    matched = resolved[0].match(resolved[1]) if resolved else None
    route, params = matched if matched else (None, {})
    req = Request(operation=operation, path=path, params=params, body=body, token=None, remote_addr=http.remote or "")

    last_use = False
    client_token = _client_token(http)
    if route is not None and route.unauthenticated:
        req.token = state.tokens.lookup(client_token) if client_token else None
    else:
        req.token = _authenticate(state, client_token)
        if route is not None and route.exists is not None and operation is Operation.UPDATE:
            req.operation = Operation.UPDATE if route.exists(req) else Operation.CREATE
        acl = state.policies.acl(req.token.policies)
        if not acl.allows(path, req.operation.value, sudo=route.sudo if route else False):
            raise permission_denied()
        last_use = state.tokens.use(req.token)

    try:
        if resolved is None:
            raise no_route(path)
        if route is None:
            raise unsupported_path()
        handler = route.handlers.get(req.operation)
        if handler is None:
            raise unsupported_operation()
        return _render(handler(req), req.operation, resolved[0].type)
    finally:
        if last_use and req.token is not None:
            state.tokens.revoke(req.token.id)


def _authenticate(state: VaultState, client_token: str) -> Token:
    if not client_token:
        raise missing_token()
    token = state.tokens.lookup(client_token)
    if token is None:
        raise invalid_token()
    return token


def _render(reply: Reply | None, operation: Operation, mount_type: str) -> web.Response:
    if reply is None:
        if operation in (Operation.READ, Operation.LIST):
            raise not_found()
        return web.Response(status=204)
    if reply.raw is not None:
        if not reply.raw.body:
            return web.Response(status=204)
        return web.Response(status=200, body=reply.raw.body, headers={"Content-Type": reply.raw.content_type})
    if reply.data is None and reply.auth is None and not reply.warnings:
        return web.Response(status=204)
    return _json(200, envelope(reply, mount_type))


def _health(state: VaultState, request: web.BaseRequest) -> web.Response:
    codes = dict(_HEALTH_CODES)
    for name in codes:
        if name in request.query:
            try:
                codes[name] = int(request.query[name])
            except ValueError:
                return _json(400, {"errors": []})
    code = codes["sealedcode"] if state.sealed else codes["activecode"]
    if request.method == "HEAD":
        return web.Response(status=code, headers={"Content-Type": JSON})
    if request.method != "GET":
        return _json(405, {"errors": []})
    return _json(code, health_body(state))


def _operation(request: web.BaseRequest) -> Operation:
    method = request.method.upper()
    if method == "GET":
        return Operation.LIST if request.query.get("list") == "true" else Operation.READ
    if method == "LIST":
        return Operation.LIST
    if method in ("POST", "PUT"):
        return Operation.UPDATE
    if method == "DELETE":
        return Operation.DELETE
    raise unsupported_operation()


def _body(raw: bytes, request: web.BaseRequest, operation: Operation) -> Body:
    if operation in (Operation.READ, Operation.LIST):
        return Body({k: v for k, v in request.query.items() if k != "list"})
    if not raw.strip():
        return Body({})
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"failed to parse JSON input: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("failed to parse JSON input: expected a JSON object")
    return Body(data)


def _client_token(request: web.BaseRequest) -> str:
    token = request.headers.get("X-Vault-Token", "")
    if not token:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    return token


def _json(status: int, body: object) -> web.Response:
    # Exactly `application/json`, no charset: hvac only parses error bodies with that header.
    return web.Response(status=status, body=encode(body), headers={"Content-Type": JSON})
