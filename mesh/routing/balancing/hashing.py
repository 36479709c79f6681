"""What hash-based policies hash: Consul's HashPolicies evaluated on a request (Envoy's rules)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from mesh.routing.request import RequestInfo
from mesh.traffic.model import HashPolicy

_MASK64 = (1 << 64) - 1


def stable_hash(data: str) -> int:
    """A 64-bit hash that every agent computes alike (Python's hash() is salted per process),
    so agents agree on ring positions and a key sticks to one endpoint mesh-wide."""
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class SetCookie:
    """A cookie the proxy must add to the response so that the client's next requests hash
    alike. `ttl` None is a session cookie (CookieConfig.Session)."""

    name: str
    value: str
    path: str | None = None
    ttl: float | None = None

    def header_value(self) -> str:
        """The Set-Cookie field value."""
        parts = [f"{self.name}={self.value}"]
        if self.path:
            parts.append(f"Path={self.path}")
        if self.ttl is not None:
            parts.append(f"Max-Age={int(self.ttl)}")
        parts.append("HttpOnly")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class HashDecision:
    """The hash key for the balancer (None: no policy produced one, the choice is random), and a
    cookie to set when a cookie policy generated one."""

    key: int | None
    set_cookie: SetCookie | None = None


def request_hash(policies: Sequence[HashPolicy], request: RequestInfo) -> HashDecision:
    """Envoy's combination: each policy that yields a value folds it in
    (`rotl(hash, 1) ^ new`); a terminal policy stops the walk once a hash exists."""
    combined: int | None = None
    cookie: SetCookie | None = None
    for policy in policies:
        value = _value(policy, request)
        if value is None and policy.field == "cookie" and policy.cookie_config is not None:
            cookie = _generated_cookie(policy, request.source_ip)
            value = cookie.value if cookie is not None else None
        if value is not None:
            combined = _fold(combined, stable_hash(value))
        if policy.terminal and combined is not None:
            break
    return HashDecision(combined, cookie)


def connection_hash(policies: Sequence[HashPolicy], source_ip: str) -> int | None:
    """For TCP there is no request: only `SourceIP` policies can yield a hash."""
    combined: int | None = None
    for policy in policies:
        if policy.source_ip and source_ip:
            combined = _fold(combined, stable_hash(source_ip))
        if policy.terminal and combined is not None:
            break
    return combined


def _fold(combined: int | None, new: int) -> int:
    if combined is None:
        return new
    return (((combined << 1) | (combined >> 63)) & _MASK64) ^ new


def _value(policy: HashPolicy, request: RequestInfo) -> str | None:
    if policy.source_ip:
        return request.source_ip or None
    name = policy.field_value or ""
    if policy.field == "header":
        return request.headers.get(name.lower())
    if policy.field == "query_parameter":
        return request.query_value(name)
    if policy.field == "cookie":
        return cookie_value(request.headers.get("cookie"), name)
    return None


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header (`a=1; b=2`), or None."""
    if not header:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _generated_cookie(policy: HashPolicy, source_ip: str) -> SetCookie | None:
    """Envoy generates the cookie only when a TTL is configured (0 = session), from the client's
    address, so the client's later requests carry a value that hashes where this one went."""
    config = policy.cookie_config
    if config is None or not (config.session or config.ttl) or not source_ip:
        return None
    value = f"{stable_hash(source_ip):016x}"
    return SetCookie(policy.field_value or "", value, config.path, None if config.session else config.ttl)
