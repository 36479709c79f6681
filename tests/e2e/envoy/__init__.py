"""End-to-end tests of the Envoy data plane: a real Envoy loaded with the translation."""
