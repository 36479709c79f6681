"""Both stand-ins wired together as a real estate would be.

Vault is bootstrapped through hvac by the same code that configures a real Vault
(mesh.vaultsetup); Consul's Connect CA is "the Vault provider": its CA roots are Vault's
roots, so `/v1/connect/ca/roots` carries the trust domain and the anchors agents use.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import hvac

from mesh.devstack.consul import ConsulServer, Federation
from mesh.devstack.vault import VaultServer
from mesh.vaultsetup import BootstrapResult, BootstrapSettings, bootstrap


def new_trust_domain() -> str:
    """Consul's form: the cluster ID (a UUID) under `.consul`."""
    return f"{uuid.uuid4()}.consul"


class DevStack:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        consul_port: int = 0,
        vault_port: int = 0,
        datacenters: tuple[str, ...] = ("dc1",),
        acl_management_token: str | None = None,
        acl_default_policy: str = "deny",
        trust_domain: str | None = None,
        check_reap_interval: float | None = None,
        hosts: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.host = host
        self.trust_domain = trust_domain or new_trust_domain()
        self.vault = VaultServer()
        self.federation = Federation()
        extra: dict[str, Any] = {}
        if check_reap_interval is not None:
            extra = {"check_reap_interval": check_reap_interval, "check_deregister_interval_min": check_reap_interval}
        self.consuls = {
            dc: ConsulServer(
                datacenter=dc,
                node_name=f"devstack-{dc}",
                node_address=host,
                trust_domain=self.trust_domain,
                acl_management_token=acl_management_token,
                acl_default_policy=acl_default_policy,
                federation=self.federation,
                **extra,
            )
            for dc in datacenters
        }
        self._ports = {"vault": vault_port, datacenters[0]: consul_port}
        self.hosts = dict(hosts or {})
        self.bootstrap_result: BootstrapResult | None = None

    @property
    def consul(self) -> ConsulServer:
        """The primary datacenter's server (the one `--consul-port` names)."""
        return next(iter(self.consuls.values()))

    async def start(self) -> None:
        await self.vault.start(self.host, self._ports["vault"])
        client = hvac.Client(url=self.vault.url, token=self.vault.root_token, timeout=10)
        # Dev credentials shared by every agent, for any service: tests and the demo start
        # agents with whatever services they need. Per-host credentials (what production
        # uses) come from running mesh.vaultsetup with `hosts` against this Vault.
        settings = BootstrapSettings(
            trust_domain=self.trust_domain,
            datacenters=tuple(self.consuls),
            hosts=self.hosts,
            shared_dev_credentials=True,
        )
        self.bootstrap_result = await asyncio.to_thread(bootstrap, client, settings)
        self.publish_roots()
        for dc, server in self.consuls.items():
            await server.start(self.host, self._ports.get(dc, 0))

    async def stop(self) -> None:
        for server in self.consuls.values():
            await server.stop()
        await self.vault.stop()

    def publish_roots(self) -> None:
        """Consul's CA roots follow Vault's trust anchors (as with Consul's Vault CA provider)."""
        anchors = self.vault.trust_anchor_pems("pki")
        for server in self.consuls.values():
            server.set_ca_roots(anchors, active_index=0)

    def rotate_root(self) -> None:
        """Start a root rotation in Vault (new root cross-signing the old) and publish both."""
        self.vault.rotate_root("pki")
        self.publish_roots()

    def end_root_overlap(self) -> None:
        self.vault.end_root_overlap("pki")
        self.publish_roots()

    def info(self) -> dict[str, Any]:
        """The ready line's fields (DESIGN.md section 3)."""
        result = self.bootstrap_result
        assert result is not None, "start() first"
        shared = result.shared
        assert shared is not None
        return {
            "consul": self.consul.url,
            "vault": self.vault.url,
            "vault_token": self.vault.root_token,
            "pki_path": result.pki_path,
            "pki_role": shared.pki_role,
            "trust_domain": self.trust_domain,
            # Dev only: these credentials sign any service's identity (see start()).
            "approle_role_id": shared.role_id,
            "approle_secret_id": shared.secret_id,
            "datacenters": {dc: server.url for dc, server in self.consuls.items()},
            # Per-host credentials (`hosts`), each signing only its own services, as in production.
            "hosts": {
                c.host: {
                    "services": list(c.services),
                    "pki_role": c.pki_role,
                    "role_id": c.role_id,
                    "secret_id": c.secret_id,
                }
                for c in result.hosts
            },
        }
