"""Validated Consul-shaped data -> model (decode), and model -> Consul-shaped data (encode)."""

from __future__ import annotations

from typing import Any

from mesh.traffic.codec.defaults import decode_defaults, encode_defaults
from mesh.traffic.codec.resolver import decode_resolver, encode_resolver
from mesh.traffic.codec.router import decode_router, encode_router
from mesh.traffic.codec.splitter import decode_splitter, encode_splitter
from mesh.traffic.keys import SERVICE_DEFAULTS, SERVICE_RESOLVER, SERVICE_ROUTER, SERVICE_SPLITTER
from mesh.traffic.model import ServiceDefaults, ServiceResolver, ServiceRouter, ServiceSplitter, TrafficDocument


def decode(kind: str, name: str, raw: dict[str, Any]) -> TrafficDocument:
    """Build the model of a document that passed the schema and the rules."""
    if kind == SERVICE_DEFAULTS:
        return decode_defaults(name, raw)
    if kind == SERVICE_RESOLVER:
        return decode_resolver(name, raw)
    if kind == SERVICE_SPLITTER:
        return decode_splitter(name, raw)
    if kind == SERVICE_ROUTER:
        return decode_router(name, raw)
    raise ValueError(f"unknown kind {kind!r}")


def encode(doc: TrafficDocument) -> dict[str, Any]:
    """The document with Consul's field names (Kind and Name included), unset fields left out."""
    if isinstance(doc, ServiceDefaults):
        return encode_defaults(doc)
    if isinstance(doc, ServiceResolver):
        return encode_resolver(doc)
    if isinstance(doc, ServiceSplitter):
        return encode_splitter(doc)
    if isinstance(doc, ServiceRouter):
        return encode_router(doc)
    raise TypeError(f"not a traffic document: {type(doc).__name__}")
