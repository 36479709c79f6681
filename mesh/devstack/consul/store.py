"""One datacenter's whole state, as a restarted `consul agent -dev` would lose it."""

from __future__ import annotations

import uuid

from mesh.devstack.consul.acl import ACLState
from mesh.devstack.consul.ca_state import CAState
from mesh.devstack.consul.catalog_state import CatalogState
from mesh.devstack.consul.config_state import ConfigState
from mesh.devstack.consul.indexes import Indexes
from mesh.devstack.consul.kv_state import KVState
from mesh.devstack.consul.model import PASSING, Check, Node, Service

CONSUL_VERSION = "1.20.0"
SERVER_RPC_PORT = 8300


class Store:
    def __init__(
        self,
        *,
        datacenter: str,
        node_name: str,
        node_address: str,
        trust_domain: str,
        acl_secret: str | None,
        acl_default_policy: str = "deny",
    ) -> None:
        self.datacenter = datacenter
        self.node_name = node_name
        self.node_address = node_address
        self.node_id = str(uuid.uuid4())
        self.indexes = Indexes()
        self.kv = KVState(self.indexes)
        self.catalog = CatalogState(self.indexes)
        self.config = ConfigState(self.indexes)
        self.ca = CAState(self.indexes, trust_domain)
        self.acl = ACLState(self.indexes, acl_secret, datacenter=datacenter, default_policy=acl_default_policy)
        self._register_self()

    def _register_self(self) -> None:
        """What a dev agent's leader puts in the catalog first: its node, serfHealth, `consul`."""
        addr = self.node_address
        self.catalog.ensure_node(
            Node(
                id=self.node_id,
                name=self.node_name,
                address=addr,
                datacenter=self.datacenter,
                tagged_addresses={"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr},
                meta={"consul-network-segment": "", "consul-version": CONSUL_VERSION},
            )
        )
        self.catalog.ensure_check(
            Check(
                node=self.node_name,
                check_id="serfHealth",
                name="Serf Health Status",
                status=PASSING,
                output="Agent alive and reachable",
            )
        )
        self.catalog.ensure_service(
            Service(
                node=self.node_name,
                id="consul",
                name="consul",
                port=SERVER_RPC_PORT,
                weights={"Passing": 1, "Warning": 1},
            )
        )
