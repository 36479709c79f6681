"""The Envoys the server knows, by node id, and the status records built from them (pure).

A node is one Envoy process identity (`node.id` in its bootstrap). It may have more than one
stream: a restarted Envoy connects again before the server has noticed the old stream is gone.
The newest stream is the one that describes the node; NACK counts belong to the node and survive
reconnects. Disconnected nodes are kept, up to `KEPT_DISCONNECTED`, so `meshctl status` can say
what the last Envoy refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from mesh.envoy.xds.catalog import Catalog
from mesh.envoy.xds.resources import PUSH_ORDER
from mesh.envoy.xds.session import Session
from mesh.envoy.xds.status import Nack, NodeStatus, TypeStatus, XdsStatus

KEPT_DISCONNECTED: Final = 16


@dataclass
class NodeRecord:
    node_id: str
    open_streams: dict[int, Session] = field(default_factory=dict)  # stream id -> session, oldest first
    last_session: Session | None = None
    nack_counts: dict[str, int] = field(default_factory=dict)
    last_nacks: dict[str, Nack] = field(default_factory=dict)

    @property
    def current(self) -> Session | None:
        if self.open_streams:
            return next(reversed(self.open_streams.values()))
        return self.last_session


class Nodes:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeRecord] = {}

    def open(self, node_id: str, stream_id: int, session: Session) -> None:
        record = self._nodes.pop(node_id, None) or NodeRecord(node_id)
        record.open_streams[stream_id] = session
        self._nodes[node_id] = record  # newest activity last, so the oldest disconnected go first
        self._forget_old()

    def close(self, node_id: str, stream_id: int) -> None:
        record = self._nodes.get(node_id)
        if record is None:
            return
        session = record.open_streams.pop(stream_id, None)
        if session is not None and not record.open_streams:
            record.last_session = session
            self._forget_old()

    def nacked(self, node_id: str, type_url: str, nack: Nack) -> None:
        record = self._nodes.get(node_id)
        if record is not None:
            record.nack_counts[type_url] = record.nack_counts.get(type_url, 0) + 1
            record.last_nacks[type_url] = nack

    def status(self, catalog: Catalog) -> XdsStatus:
        versions = catalog.versions()
        return XdsStatus(
            published=MappingProxyType(dict(versions)),
            nodes=MappingProxyType({n: _node_status(r, versions) for n, r in self._nodes.items()}),
        )

    def _forget_old(self) -> None:
        gone = [n for n, r in self._nodes.items() if not r.open_streams]
        for node_id in gone[: max(0, len(gone) - KEPT_DISCONNECTED)]:
            del self._nodes[node_id]


def _node_status(record: NodeRecord, versions: Mapping[str, str]) -> NodeStatus:
    session = record.current
    types: dict[str, TypeStatus] = {}
    for url in PUSH_ORDER:
        state = session.types[url] if session is not None else None
        types[url] = TypeStatus(
            type_url=url,
            published_version=versions.get(url),
            sent_version=state.sent_version if state else None,
            acked_version=state.acked_version if state else None,
            subscribed=bool(state and state.subscribed),
            last_nack=record.last_nacks.get(url),
            nack_count=record.nack_counts.get(url, 0),
        )
    return NodeStatus(
        node_id=record.node_id,
        connected=bool(record.open_streams),
        streams=len(record.open_streams),
        types=MappingProxyType(types),
    )
