# What identities do not cover, for the identity form of the agent token (agent-token-identities.json).
# A service identity gives `service "<name>"` and `"<name>-sidecar-proxy"` write, and read on every
# service and node; a node identity gives `node "<name>"` write. The agent also reads its
# configuration documents and the Consul agent's node name:
key_prefix "mesh/config/" { policy = "read" }
agent "host-1" { policy = "read" }
