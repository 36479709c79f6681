"""`Connect.SidecarService` on a service registration (agent/sidecar_service.go): the sidecar proxy
registered with its parent, as Consul does it.

The nested definition is a whole service definition whose fields all have defaults taken from the
parent: ID `<parent id>-sidecar-proxy` (not overridable), Name `<parent name>-sidecar-proxy`, Kind
`connect-proxy` (not overridable), the parent's Tags, Meta and Locality, a port from the agent's
sidecar range (21000-21255) when none is given, the parent's address, a Proxy pointing at the
parent (its socket, or 127.0.0.1 and its port), and,
when no check is given, a TCP check of the proxy's address and port and an alias check of the
parent. Pure: which ports are taken is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from mesh.devstack.consul.decode import DecodeError, canonical
from mesh.devstack.consul.model import CONNECT_PROXY, Service
from mesh.devstack.consul.registration import SERVICE_FIELDS, RegistrationError

SIDECAR_SUFFIX = "-sidecar-proxy"
SIDECAR_MIN_PORT = 21000  # Consul's sidecar_min_port default
SIDECAR_MAX_PORT = 21255  # sidecar_max_port


def sidecar_id(parent_id: str) -> str:
    return parent_id + SIDECAR_SUFFIX


def requested_sidecar(body: Any) -> Mapping[str, Any] | None:
    """The registration's `Connect.SidecarService`, canonical, or None when there is none."""
    try:
        data = canonical(body, SERVICE_FIELDS, "structs.ServiceDefinition")
        raw = (data.get("Connect") or {}).get("SidecarService")
        if raw is None:
            return None
        nested = canonical(raw, SERVICE_FIELDS, "structs.ServiceDefinition")
    except DecodeError as exc:
        raise RegistrationError(f"Request decode failed: {exc}") from None
    if nested.get("Connect") and (nested["Connect"].get("SidecarService") is not None):
        raise RegistrationError("sidecar_service can't have a nested sidecar_service")  # Consul's wording
    return nested


def sidecar_definition(
    nested: Mapping[str, Any], parent: Service, taken_ports: Collection[int], previous_port: int = 0
) -> dict[str, Any]:
    """The sidecar's full service definition: `nested` with Consul's defaults filled in.

    `taken_ports` are the ports of the agent's other services (the sidecar's own earlier port
    left out); `previous_port` is the port the sidecar has now, kept on a re-registration when it
    is in the range, as Consul keeps it.
    """
    if nested.get("ID") not in (None, "", sidecar_id(parent.id)):
        raise RegistrationError("sidecar_service can't specify an ID")
    if nested.get("Kind") not in (None, "", CONNECT_PROXY):
        raise RegistrationError("sidecar_service can't have Kind other than connect-proxy")
    out = dict(nested)
    out["ID"] = sidecar_id(parent.id)
    out["Kind"] = CONNECT_PROXY
    out["Name"] = nested.get("Name") or parent.name + SIDECAR_SUFFIX
    if not nested.get("Tags") and parent.tags:
        out["Tags"] = list(parent.tags)
    if not nested.get("Meta") and parent.meta:
        out["Meta"] = dict(parent.meta)
    if not nested.get("Locality") and parent.locality:
        out["Locality"] = parent.locality
    if not nested.get("Port"):
        in_range = SIDECAR_MIN_PORT <= previous_port <= SIDECAR_MAX_PORT
        out["Port"] = previous_port if in_range else _free_port(taken_ports)
    if not nested.get("Address") and parent.address:
        out["Address"] = parent.address
    proxy = dict(nested.get("Proxy") or {})
    proxy["DestinationServiceName"] = proxy.get("DestinationServiceName") or parent.name
    proxy["DestinationServiceID"] = proxy.get("DestinationServiceID") or parent.id
    # The local service: its socket, else 127.0.0.1 and its port, unless both are given.
    if not proxy.get("LocalServiceSocketPath") and not (
        proxy.get("LocalServiceAddress") and proxy.get("LocalServicePort")
    ):
        if parent.socket_path:
            proxy["LocalServiceSocketPath"] = parent.socket_path
        else:
            proxy["LocalServiceAddress"] = proxy.get("LocalServiceAddress") or "127.0.0.1"
            proxy["LocalServicePort"] = proxy.get("LocalServicePort") or parent.port
    out["Proxy"] = proxy
    if not nested.get("Check") and not nested.get("Checks"):
        address = str(out.get("Address") or proxy.get("LocalServiceAddress") or "")
        host = f"[{address}]" if ":" in address else address
        out["Checks"] = [
            {"Name": "Connect Sidecar Listening", "TCP": f"{host}:{out['Port']}", "Interval": "10s"},
            {"Name": f"Connect Sidecar Aliasing {parent.id}", "AliasService": parent.id},
        ]
    return out


def _free_port(taken: Collection[int]) -> int:
    for port in range(SIDECAR_MIN_PORT, SIDECAR_MAX_PORT + 1):
        if port not in taken:
            return port
    raise RegistrationError("No sidecar ports available")
