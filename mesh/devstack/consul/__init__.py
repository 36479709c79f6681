"""A stand-in for Consul 1.x that speaks its HTTP API (the subset the mesh uses).

    server = ConsulServer(trust_domain="11111111-2222-3333-4444-555555555555.consul")
    await server.start()          # port 0: a free loopback port, see server.url
    ...
    await server.stop()

Several servers sharing a `Federation` answer `?dc=<other>` for each other.
"""

from mesh.devstack.consul.federation import Federation
from mesh.devstack.consul.server import ConsulServer
from mesh.devstack.consul.store import CONSUL_VERSION

__all__ = ["CONSUL_VERSION", "ConsulServer", "Federation"]
