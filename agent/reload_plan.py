"""What a reload (SIGHUP) changes, decided from the running and the newly loaded config (pure).

Live (applied on SIGHUP): `services` (added ones registered and given certificates, removed
ones deregistered, changed ones registered again; upstream listeners whose declaration
changed are rebound, the others keep their connections), `mtls_mode`, `intentions.default`,
`log_level`, `access_log` (the next request reported follows it).

Restart only (the running value is kept, and named in the log and in `/v1/status`
`restart_required` until a restart or a reload that reverts them): the identity of the host
and the addresses the agent is bound to or talks to, as with Consul's own non-reloadable
settings. Changing them live would mean re-identifying every certificate, re-binding the
inbound listener under open connections, or moving to another Consul or Vault mid-flight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from mesh.config.model import AgentConfig, LocalService

RESTART_ONLY: dict[str, Callable[[AgentConfig], object]] = {
    "node": lambda c: c.node,
    "datacenter": lambda c: c.datacenter,
    "advertise_address": lambda c: c.advertise_address,
    "trust_domain": lambda c: c.trust_domain,
    "inbound.listen": lambda c: c.inbound_listen,
    "admin.listen": lambda c: c.admin_listen,
    "admin.allow_remote": lambda c: c.admin_allow_remote,
    "state_dir": lambda c: c.state_dir,
    "consul": lambda c: c.consul,
    "vault": lambda c: c.vault,
    "data_plane": lambda c: c.data_plane,  # which plane binds the listeners is chosen at start
    "envoy": lambda c: c.envoy,  # the supervised Envoy's binary, admin address and workers
    "tracing": lambda c: c.tracing,  # the span exporter and sampling policy are built once (mesh.proxy.http.spans)
}


@dataclass(frozen=True)
class ReloadPlan:
    config: AgentConfig  # what runs after the reload: the new file, restart-only settings kept
    restart_required: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def services_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def plan_reload(running: AgentConfig, loaded: AgentConfig) -> ReloadPlan:
    restart = tuple(name for name, get in RESTART_ONLY.items() if get(running) != get(loaded))
    config = dataclasses.replace(
        loaded,
        node=running.node,
        datacenter=running.datacenter,
        advertise_address=running.advertise_address,
        trust_domain=running.trust_domain,
        inbound_listen=running.inbound_listen,
        admin_listen=running.admin_listen,
        admin_allow_remote=running.admin_allow_remote,
        state_dir=running.state_dir,
        consul=running.consul,
        vault=running.vault,
        tracing=running.tracing,
        data_plane=running.data_plane,
        envoy=running.envoy,
    )
    before = _by_id(running.services)
    after = _by_id(config.services)
    return ReloadPlan(
        config=config,
        restart_required=restart,
        added=tuple(after[i].name for i in after if i not in before),
        removed=tuple(before[i].name for i in before if i not in after),
        changed=tuple(after[i].name for i in after if i in before and after[i] != before[i]),
    )


def _by_id(services: tuple[LocalService, ...]) -> dict[str, LocalService]:
    return {s.id: s for s in services}
