"""TLS for the mesh: SSL contexts from leaves and trust bundles, and peer identity checks."""
