"""Every endpoint the stand-in serves, in one place."""

from __future__ import annotations

from mesh.devstack.consul import (
    acl_api,
    agent_api,
    ca_api,
    catalog_api,
    catalog_register,
    config_api,
    health_api,
    intentions_api,
    kv_api,
    txn_api,
)
from mesh.devstack.consul.router import Router


def build_router() -> Router:
    router = Router()
    for module in (
        agent_api,
        catalog_api,
        catalog_register,
        health_api,
        kv_api,
        config_api,
        intentions_api,
        ca_api,
        acl_api,
        txn_api,
    ):
        module.register(router)
    return router
