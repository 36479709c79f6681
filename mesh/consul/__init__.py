"""Adapter for Consul: client construction, blocking watches, registration."""
