"""WAN federation between stand-ins: `?dc=<other>` reads the other datacenter's state.

Real Consul servers forward such requests over the WAN; here each ConsulServer joins a
shared Federation and reads the member's store directly. Members must run on one event
loop (e.g. one StandInThread): a blocking query parks on the other member's state.

The first datacenter to join is the primary (Consul's `primary_datacenter`). Config entries,
service-intentions included, live there: every config-entry and intention write is forwarded
to it, and the secondaries replicate its set into their own state, each change a write of
their own with their own index (Consul's config-entry replication). Consul replicates with a
blocking query on the primary, so a secondary lags by a round trip; here it follows at once.
"""

from __future__ import annotations

from typing import Protocol

from mesh.devstack.consul.store import Store


class Member(Protocol):
    datacenter: str

    @property
    def store(self) -> Store: ...


class Federation:
    def __init__(self) -> None:
        self._members: dict[str, Member] = {}

    def join(self, member: Member) -> None:
        present = self._members.get(member.datacenter)
        if present is not None and present is not member:
            raise ValueError(f"datacenter {member.datacenter!r} already has a server in this federation")
        self._members[member.datacenter] = member

    @property
    def primary(self) -> Member | None:
        return next(iter(self._members.values()), None)

    def replicate_config(self) -> None:
        """Bring every secondary's config entries to the primary's set."""
        primary = self.primary
        if primary is None:
            return
        for member in self._members.values():
            if member is not primary:
                member.store.config.replicate(primary.store.config)

    def member(self, datacenter: str) -> Member | None:
        return self._members.get(datacenter)

    def datacenters(self, local: str) -> list[str]:
        """Local first, then the others by name (Consul sorts by estimated round-trip time)."""
        return [local, *sorted(dc for dc in self._members if dc != local)]
