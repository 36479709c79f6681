"""The four forms of request-target (RFC 9112 3.2) and Host/authority validation.

The parser checks the form against the method so that what reaches authorization is
unambiguous: origin-form for ordinary requests, absolute-form (accepted as RFC 9112
3.2.2 requires of servers), authority-form only with CONNECT, asterisk-form only with
OPTIONS.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mesh.http.errors import ProtocolError
from mesh.http.grammar import DIGIT_OK, TARGET_OK

# reg-name / IPv4 characters (RFC 3986): unreserved, pct-encoded, sub-delims. No '@', so
# userinfo (deprecated; RFC 9110 4.2.4 says treat it as an error) is refused.
_REG_NAME_OK = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;="
_IP_LITERAL_OK = b"0123456789abcdefABCDEF:.vV-._~!$&'()*+,;=%"
_SCHEMES = (b"http", b"https")


class TargetForm(enum.Enum):
    ORIGIN = "origin"  # /path?query
    ABSOLUTE = "absolute"  # http://authority/path?query
    AUTHORITY = "authority"  # host:port, CONNECT only
    ASTERISK = "asterisk"  # *, OPTIONS only


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """A request-target taken apart. `query` is None when there was no '?' at all."""

    form: TargetForm
    scheme: bytes  # lowercased; b"" unless absolute-form
    authority: bytes  # b"" for origin- and asterisk-form
    path: bytes  # b"" for authority- and asterisk-form; b"/" for an absolute-form URI with no path
    query: bytes | None

    @property
    def origin_form(self) -> bytes:
        """What to send to an origin server: path and query (RFC 9112 3.2.1)."""
        if self.form is TargetForm.ASTERISK:
            return b"*"
        return self.path if self.query is None else self.path + b"?" + self.query


def target_form(method: bytes, target: bytes) -> TargetForm:
    """Classify and validate a request-target for `method`; ProtocolError(400) if invalid."""
    if not target or target.translate(None, TARGET_OK):
        raise ProtocolError(400, "invalid request-target")
    first = target[0]
    if method == b"CONNECT":
        if not is_valid_authority(target, require_port=True):
            raise ProtocolError(400, "CONNECT needs an authority-form target (host:port)")
        return TargetForm.AUTHORITY
    if first == 0x2F:  # "/"
        return TargetForm.ORIGIN
    if target == b"*":
        if method != b"OPTIONS":
            raise ProtocolError(400, "asterisk-form target is only for OPTIONS")
        return TargetForm.ASTERISK
    _split_absolute(target)
    return TargetForm.ABSOLUTE


def parse_target(method: bytes, target: bytes) -> RequestTarget:
    """Take a request-target apart (validating it as `target_form` does)."""
    form = target_form(method, target)
    if form is TargetForm.AUTHORITY:
        return RequestTarget(form, b"", target, b"", None)
    if form is TargetForm.ASTERISK:
        return RequestTarget(form, b"", b"", b"", None)
    scheme, authority, rest = (b"", b"", target) if form is TargetForm.ORIGIN else _split_absolute(target)
    path, sep, query = rest.partition(b"?")
    return RequestTarget(form, scheme, authority, path or b"/", query if sep else None)


def is_valid_authority(value: bytes, *, require_port: bool = False) -> bool:
    """True for `host[:port]` as RFC 3986 defines it, with a non-empty host and no userinfo."""
    if value.startswith(b"["):
        end = value.find(b"]")
        if end < 2 or value[1:end].translate(None, _IP_LITERAL_OK):
            return False
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(b":"):
            return False
        port = rest[1:] if rest else None
    else:
        host, sep, port_part = value.partition(b":")
        if not host or host.translate(None, _REG_NAME_OK):
            return False
        port = port_part if sep else None
    if port is None:
        return not require_port
    return 0 < len(port) <= 5 and not port.translate(None, DIGIT_OK)


def _split_absolute(target: bytes) -> tuple[bytes, bytes, bytes]:
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ProtocolError(400, "request-target is not origin-form nor an http(s) absolute URI")
    cut = len(rest)
    for delim in (b"/", b"?"):
        at = rest.find(delim)
        if 0 <= at < cut:
            cut = at
    authority = rest[:cut]
    if not is_valid_authority(authority):
        raise ProtocolError(400, "invalid authority in absolute-form target")
    return scheme.lower(), authority, rest[cut:]
