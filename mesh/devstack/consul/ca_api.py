"""/v1/connect/ca/* and /v1/agent/connect/ca/roots: the CA roots set from outside.

The roots are public (no ACL, as in Consul); the CA configuration needs operator:read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul import watchkeys
from mesh.devstack.consul.acl import READ
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.indexes import CA_ROOTS
from mesh.devstack.consul.responses import json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store


def register(router: Router) -> None:
    router.add("/v1/connect/ca/roots", ("GET",), roots)
    router.add("/v1/agent/connect/ca/roots", ("GET",), roots)
    router.add("/v1/connect/ca/configuration", ("GET",), configuration)


async def roots(call: Call) -> web.StreamResponse:
    if call.flag("pem"):
        store = call.ctx.store_getter(call.dc)()
        return web.Response(text=store.ca.pem_bundle(), content_type="application/pem-certificate-chain")

    def read(store: Store) -> tuple[int, dict[str, Any]]:
        return store.ca.index, store.ca.render()

    return await call.read(read, {watchkeys.table(CA_ROOTS)})


async def configuration(call: Call) -> web.StreamResponse:
    call.require("operator", READ)
    store = call.ctx.store_getter(call.dc)()
    cluster_id = store.ca.trust_domain.removesuffix(".consul")
    return json_response(
        {
            "Provider": "vault",
            "Config": {"LeafCertTTL": "72h", "RotationPeriod": "2160h", "IntermediateCertTTL": "8760h"},
            "State": None,
            "ForceWithoutCrossSigning": False,
            "ClusterID": cluster_id,
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }
    )
