"""The callers an inbound RBAC can name, as Envoy RBAC principals over the client's SPIFFE URI SAN (pure).

The builtin plane reads a caller's identity with mesh.tls.peer.peer_identity: a Consul service
SPIFFE ID (`spiffe://<td>/ns/default/dc/<dc>/svc/<svc>`) in our trust domain, namespace
`default`, any datacenter (Consul matches intention sources by service name across the
datacenters of one trust domain). The regexes here accept those IDs, with mesh.identity's name
grammar, anchored as Consul writes them (Envoy's safe_regex matches the whole value anyway).

Two differences, both refusing what the builtin plane would admit and both outside what the
mesh's CA signs: the trust domain is matched in lower case only (the builtin parser lower-cases
a leaf's; a case-insensitive group costs six times the RE2 program), and a name's 63-character
bound is not checked (see _NAME). Envoy refuses a regex whose RE2 program exceeds 100
instructions by default; these stay near 30 for Consul's `<uuid>.consul` trust domains, growing
one per character of the trust domain, so a trust domain past about 70 characters needs the
bootstrap's runtime `re2.max_program_size.error_level` raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.rbac.v3 import rbac_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from mesh.identity import is_valid_service_name, is_valid_trust_domain

# mesh.identity's grammar of one name (a service, a datacenter), in RE2 syntax, without its bound of
# 63 characters: `{0,62}` alone makes a program of about 300 instructions, and Envoy refuses a regex
# past 100 unless its runtime says otherwise. A longer label is one the mesh's CA never signs.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"


def _escaped(name: str) -> str:
    """A validated name (letters, digits, dashes, dots) as an RE2 literal."""
    return "".join(c if c.isascii() and c.isalnum() else "\\" + c for c in name)


def spiffe_regex(trust_domain: str, service: str | None) -> str:
    """The regex of `service`'s SPIFFE IDs in any datacenter of the trust domain (None: any service).
    ValueError for a trust domain or service name no identity can carry."""
    if not is_valid_trust_domain(trust_domain):
        raise ValueError(f"not a valid trust domain: {trust_domain!r}")
    if service is not None and not is_valid_service_name(service):
        raise ValueError(f"not a valid service name: {service!r}")
    svc = _NAME if service is None else _escaped(service)
    return f"^spiffe://{_escaped(trust_domain.lower())}/ns/default/dc/{_NAME}/svc/{svc}$"


def _by_regex(regex: str) -> rbac_pb2.Principal:
    matcher = string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=regex))
    return rbac_pb2.Principal(authenticated=rbac_pb2.Principal.Authenticated(principal_name=matcher))


def service_principal(trust_domain: str, service: str) -> rbac_pb2.Principal:
    """Callers whose leaf names `service` of our trust domain."""
    return _by_regex(spiffe_regex(trust_domain, service))


def any_service(trust_domain: str) -> rbac_pb2.Principal:
    """Every caller the builtin plane would identify: any service of our trust domain."""
    return _by_regex(spiffe_regex(trust_domain, None))


def any_service_except(trust_domain: str, services: Sequence[str]) -> rbac_pb2.Principal:
    """Any service of our trust domain but `services`: the callers only wildcard intentions govern
    (Consul's shape too: the wildcard's principal with a `not_id` per more specific source)."""
    everyone = any_service(trust_domain)
    if not services:
        return everyone
    named = [service_principal(trust_domain, s) for s in services]
    excluded = named[0] if len(named) == 1 else rbac_pb2.Principal(or_ids=rbac_pb2.Principal.Set(ids=named))
    return rbac_pb2.Principal(and_ids=rbac_pb2.Principal.Set(ids=[everyone, rbac_pb2.Principal(not_id=excluded)]))


def anyone() -> rbac_pb2.Principal:
    """Every connection (a plaintext one has no identity to name)."""
    return rbac_pb2.Principal(any=True)
