"""Reading and validating operator-written documents (agent config, KV traffic settings)."""
