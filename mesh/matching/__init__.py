"""Request-matching conditions shared by routes (service-router) and L7 intentions (pure)."""

from mesh.matching.headers import HeaderMatch, header_matches
from mesh.matching.regex import Pattern, RegexError, compile_regex
from mesh.matching.request_line import PathConditions, method_matches, path_matches

__all__ = [
    "HeaderMatch",
    "PathConditions",
    "Pattern",
    "RegexError",
    "compile_regex",
    "header_matches",
    "method_matches",
    "path_matches",
]
