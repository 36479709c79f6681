"""Local stand-ins for Consul and Vault that speak their HTTP APIs, for laptops and tests.

Never a production backend: state is in memory, as with `consul agent -dev` and
`vault server -dev`. Run both with `python -m mesh.devstack --consul-port P --vault-port Q`.
"""

from mesh.devstack.stack import DevStack

__all__ = ["DevStack"]
