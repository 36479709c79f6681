"""The agent's view of the mesh from Consul: one immutable snapshot, replaced atomically."""
