"""The names of the xDS resources the agent serves, one definition for every module that refers to them.

Envoy joins resources by name (a listener's RDS route name, a cluster's EDS service name, an SDS
secret name), so every producer and consumer takes its names from here.
"""

from __future__ import annotations

from mesh.identity import sni_for

# The one inbound listener of a host: a filter chain per local service, chosen by Consul's SNI.
INBOUND_LISTENER = "mesh-inbound"
# The trust bundle as an SDS validation-context secret.
ROOTS_SECRET = "mesh-roots"  # noqa: S105 (a resource name, not a secret)


def leaf_secret(service: str) -> str:
    """The SDS tls_certificate secret holding a local service's leaf and key."""
    return f"mesh-leaf/{service}"


def local_app_cluster(service: str) -> str:
    """The plaintext cluster of a local service's app (its address and port from the agent config)."""
    return f"local-app/{service}"


def inbound_route(service: str, *, plaintext: bool = False) -> str:
    """The RDS route configuration of a local http service's inbound filter chain (its mTLS one, or
    its permissive plaintext one: each carries the intentions for its callers)."""
    return f"inbound/{service}{'/plaintext' if plaintext else ''}"


def outbound_listener(service: str, upstream: str, address: str, port: int) -> str:
    """The listener of one local service's upstream (Consul names them `<upstream>:<addr>:<port>`)."""
    return f"upstream/{service}/{upstream}:{address}:{port}"


def outbound_route(service: str, upstream: str, datacenter: str) -> str:
    """The RDS route configuration of one local service's HTTP upstream."""
    return f"upstream/{service}/{upstream}.{datacenter}"


def target_cluster(caller: str, service: str, subset: str | None, datacenter: str, trust_domain: str) -> str:
    """The cluster through which local service `caller` reaches a resolved target: named by the
    target's Consul SNI (as Consul names its clusters) after the caller, because the caller's own
    leaf is the client certificate (one host, many identities). EDS uses the same name."""
    return f"{caller}/{sni_for(service, datacenter, trust_domain, subset=subset or '')}"


def failover_cluster(primary: str) -> str:
    """The aggregate cluster of a target with failover: the primary's cluster first, then each
    failover target's, the first with a healthy endpoint taking the traffic."""
    return f"failover/{primary}"
