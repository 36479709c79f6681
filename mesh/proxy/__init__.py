"""The data plane: the inbound mTLS listener and the outbound upstream listeners."""
