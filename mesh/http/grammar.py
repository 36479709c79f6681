"""Byte classes from RFC 9110/9112 ABNF, as deletion tables for bytes.translate.

`data.translate(None, X_OK)` deletes every allowed byte in C; a non-empty result means
`data` holds a byte outside the class. This checks a whole name, value or head in one
call instead of a Python loop per byte.
"""

from __future__ import annotations

_ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = b"0123456789"

# tchar (RFC 9110 5.6.2): field names, methods, transfer codings, connection options.
TOKEN_OK = b"!#$%&'*+-.^_`|~" + _DIGIT + _ALPHA
DIGIT_OK = _DIGIT
HEXDIG_OK = _DIGIT + b"abcdefABCDEF"
# field-content with its inner SP/HTAB (RFC 9110 5.5): VCHAR, obs-text, SP, HTAB.
# Excludes every other CTL, notably NUL, CR, LF and DEL.
FIELD_VALUE_OK = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
# A whole header block: field values plus the CR and LF of its line ends (bare ones are
# caught separately by counting).
HEAD_BLOCK_OK = FIELD_VALUE_OK + b"\r\n"
# request-target: visible ASCII. Stricter than most servers on purpose: no fragment
# ('#' is never sent on the wire by a compliant client) and no raw non-ASCII bytes,
# because an app that decodes them differently than we match paths is an authz bypass.
TARGET_OK = bytes(b for b in range(0x21, 0x7F) if b != ord("#"))

LOWERCASE = b"abcdefghijklmnopqrstuvwxyz"


def is_token(data: bytes) -> bool:
    return bool(data) and not data.translate(None, TOKEN_OK)


def is_field_name(name: bytes) -> bool:
    """True when `name` may be sent as a field name (a non-empty token)."""
    return is_token(name)


def is_field_value(value: bytes) -> bool:
    """True when `value` may be sent as a field value: no CR/LF/NUL/CTL, no edge whitespace."""
    if value.translate(None, FIELD_VALUE_OK):
        return False
    return not value or (value[0] not in b" \t" and value[-1] not in b" \t")
