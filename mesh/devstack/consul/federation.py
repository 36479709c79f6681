"""WAN federation between stand-ins: `?dc=<other>` reads the other datacenter's state.

Real Consul servers forward such requests over the WAN; here each ConsulServer joins a
shared Federation and reads the member's store directly. Members must run on one event
loop (e.g. one StandInThread): a blocking query parks on the other member's state.
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

    def member(self, datacenter: str) -> Member | None:
        return self._members.get(datacenter)

    def datacenters(self, local: str) -> list[str]:
        """Local first, then the others by name (Consul sorts by estimated round-trip time)."""
        return [local, *sorted(dc for dc in self._members if dc != local)]
