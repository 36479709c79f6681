"""Request-matching conditions shared by routes (service-router) and L7 intentions (pure)."""

from mesh.matching.headers import HeaderMatch, header_matches

__all__ = ["HeaderMatch", "header_matches"]
