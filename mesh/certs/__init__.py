"""Leaf certificates and keys: generation, parsing, rotation timing, storage on disk."""
