"""The published configuration, a version per type (pure: no I/O, no asyncio).

Every publish is compared with the last one type by type, on the serialized bytes of each
resource: a type gets a new version only when a resource of it was added, removed or changed,
so an unchanged type is not pushed again and Envoy does not re-apply (or drain for) anything.

Each resource is serialized once per publish and kept as the bytes of its entry in a
DiscoveryResponse (see `wire`); a response for any stream is then those bytes picked by name
and joined, never re-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from google.protobuf.message import Message

from mesh.envoy.xds.resources import ENDPOINT, PUSH_ORDER, ResourceSet
from mesh.envoy.xds.wire import resource_entry
from mesh.errors import MeshError

# The field holding a resource's own name (a ClusterLoadAssignment is named for its cluster).
_NAME_FIELDS = {ENDPOINT: "cluster_name"}


class InvalidResourceSet(MeshError):
    """A resource set the server cannot serve (a resource of the wrong message type, a name that is not its own)."""


@dataclass(frozen=True)
class PublishedType:
    """One type's resources at one version: `entries` maps a name to its encoded response entry."""

    type_url: str
    version: str
    entries: Mapping[str, bytes]

    def select(self, names: frozenset[str] | None) -> list[bytes]:
        """Every resource (names None: a wildcard subscription), or those of `names` that exist, by name."""
        if names is None:
            return [self.entries[name] for name in sorted(self.entries)]
        return [self.entries[name] for name in sorted(names) if name in self.entries]


class Catalog:
    """The latest published version of every type; `publish` says which types changed."""

    def __init__(self) -> None:
        self._types: dict[str, PublishedType] = {}
        self._counters: dict[str, int] = {}

    def get(self, type_url: str) -> PublishedType | None:
        return self._types.get(type_url)

    def versions(self) -> Mapping[str, str]:
        return MappingProxyType({url: t.version for url, t in self._types.items()})

    def publish(self, resources: ResourceSet) -> list[str]:
        """Take a whole resource set; return the type URLs whose version changed, in push order.

        Every type of `PUSH_ORDER` is versioned, absent ones as empty. Raises `InvalidResourceSet`
        (and changes nothing) for a type the server does not know or a resource it cannot serve.
        """
        unknown = sorted(str(url)[:200] for url in set(resources) - set(PUSH_ORDER))
        if unknown:
            raise InvalidResourceSet(f"unknown xDS type URL(s): {', '.join(unknown)}")
        encoded = {url: _encode(url, resources.get(url, {})) for url in PUSH_ORDER}
        changed: list[str] = []
        for url in PUSH_ORDER:
            entries = encoded[url]
            current = self._types.get(url)
            if current is not None and current.entries == entries:
                continue
            counter = self._counters.get(url, 0) + 1
            self._counters[url] = counter
            self._types[url] = PublishedType(url, str(counter), MappingProxyType(entries))
            changed.append(url)
        return changed


def _encode(type_url: str, resources: Mapping[str, Message]) -> dict[str, bytes]:
    expected = type_url.rsplit("/", 1)[-1]
    name_field = _NAME_FIELDS.get(type_url, "name")
    out: dict[str, bytes] = {}
    for name, message in resources.items():
        if not isinstance(name, str) or not name:
            raise InvalidResourceSet(f"{type_url}: a resource name must be a non-empty string, not {name!r}")
        if not isinstance(message, Message) or message.DESCRIPTOR.full_name != expected:
            raise InvalidResourceSet(f"{type_url}: resource {name!r} is a {_kind(message)}, not a {expected}")
        # Envoy knows a resource by the name inside it, so the key must be that name.
        inner = getattr(message, name_field)
        if inner != name:
            raise InvalidResourceSet(f"{type_url}: resource {name!r} names itself {inner!r}")
        # Deterministic, so equal messages give equal bytes (maps are otherwise unordered).
        out[name] = resource_entry(type_url, message.SerializeToString(deterministic=True))
    return out


def _kind(message: object) -> str:
    if isinstance(message, Message):
        return message.DESCRIPTOR.full_name
    return type(message).__name__
