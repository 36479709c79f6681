"""Authorization decisions from Consul intentions, evaluated locally (pure).

Consul's rules: the matching intention with the highest precedence decides, and at equal
precedence deny wins. An L7 intention (one with Permissions) decides per request: the
first matching permission's action, or the configured default when none matches. On a
destination that does not speak HTTP an L7 intention denies, as Consul's `/check` does. An
intention this agent could not read denies whatever it governs (mesh/intentions/reading.py).

Decisions are compiled per (source, destination) the first time the pair is asked about, and
kept with the table: the governing intention, the connection's decision and, for an L7
intention, its permissions in order with their decisions and reason strings prebuilt. A
request then costs its permission matching alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from mesh.intentions.model import WILDCARD, HttpMatch, Intention, Permission
from mesh.matching import header_matches, method_matches, path_matches


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What L7 permissions can look at. `headers` maps lower-case names to the joined value."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    intention: Intention | None = None
    # True when the connection is admitted only so that each request can be checked.
    per_request: bool = False


class IntentionTable:
    """An immutable, indexed set of intentions, built once per Consul update. `errors` holds one
    message per intention that could not be read, by error key (see IntentionReading)."""

    def __init__(self, intentions: Iterable[Intention] = (), errors: Mapping[str, str] | None = None) -> None:
        ordered = sorted(intentions, key=lambda i: (-i.precedence, not i.denies_all, i.source, i.destination))
        self._all = tuple(ordered)
        self.errors: Mapping[str, str] = dict(errors or {})
        by_destination: dict[str, list[Intention]] = {}
        for i in ordered:  # one pass: each destination's intentions keep the evaluation order
            by_destination.setdefault(i.destination, []).append(i)
        self._by_destination = {dest: tuple(found) for dest, found in by_destination.items()}
        self._pairs: dict[tuple[str, str, bool], PairDecisions] = {}

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Intention]:
        return iter(self._all)

    def matching(self, source: str, destination: str) -> tuple[Intention, ...]:
        """Intentions that apply to this pair, in evaluation order (what `/match` would list)."""
        candidates = self._by_destination.get(destination, ()) + self._by_destination.get(WILDCARD, ())
        hits = [i for i in candidates if i.source in (source, WILDCARD)]
        hits.sort(key=lambda i: (-i.precedence, not i.denies_all))
        return tuple(hits)

    def governing(self, source: str, destination: str) -> Intention | None:
        hits = self.matching(source, destination)
        return hits[0] if hits else None

    def decide_connection(self, source: str, destination: str, *, default_allow: bool, http: bool) -> Decision:
        pair = self._pair(source, destination, default_allow)
        return pair.connection_http if http else pair.connection_tcp

    def decide_request(self, source: str, destination: str, request: RequestFacts, *, default_allow: bool) -> Decision:
        pair = self._pair(source, destination, default_allow)
        if pair.request is not None:
            return pair.request
        for permission, decision in pair.permissions:
            if permission_matches(permission, request):
                return decision
        return _default(default_allow, f"{pair.unmatched} {request.method} {request.path}")

    def _pair(self, source: str, destination: str, default_allow: bool) -> PairDecisions:
        """The compiled decisions of one (source, destination), made on first use and kept with
        the table (a new Consul answer is a new table). Sources are authenticated identities, so
        the pairs are as many as the callers that have reached us; past MAX_PAIRS they start over."""
        key = (source, destination, default_allow)
        pair = self._pairs.get(key)
        if pair is None:
            if len(self._pairs) >= MAX_PAIRS:
                self._pairs.clear()
            pair = self._pairs[key] = compile_pair(
                self.governing(source, destination), source, destination, default_allow
            )
        return pair


# Compiled (source, destination) decisions kept per table; see IntentionTable._pair.
MAX_PAIRS = 4096


@dataclass(frozen=True, slots=True)
class PairDecisions:
    """Everything decided for one (source, destination) before any request: the connection's
    decisions (an http and a tcp destination), and a request's: `request` when it does not depend
    on the request, else the L7 permissions in order, each with its prebuilt decision, and what
    `unmatched` says (followed by the request's method and path) when none matches."""

    connection_http: Decision
    connection_tcp: Decision
    request: Decision | None
    permissions: tuple[tuple[Permission, Decision], ...] = ()
    unmatched: str = ""


def compile_pair(top: Intention | None, source: str, destination: str, default_allow: bool) -> PairDecisions:
    """The decisions of the governing intention `top` (None: no intention matches), as Consul's rules give them."""
    if top is None:
        decision = _default(default_allow, f"no intention matches {source} => {destination}")
        return PairDecisions(decision, decision, decision)
    if top.error:
        decision = _unreadable(top)
        return PairDecisions(decision, decision, decision)
    label = top.label()
    if not top.is_l7:
        decision = Decision(top.action == "allow", f"intention {label}", top)
        return PairDecisions(decision, decision, decision)
    return PairDecisions(
        connection_http=Decision(True, f"intention {label} is checked per request", top, per_request=True),
        connection_tcp=Decision(
            False,
            # An http2 or grpc service is L4 on the builtin plane (mesh.traffic.planes).
            f"intention {label} has L7 permissions but {destination} is not http "
            "(on an http2 or grpc service, L7 intentions need data_plane: envoy)",
            top,
        ),
        request=None,
        permissions=tuple(
            (
                permission,
                Decision(
                    permission.action == "allow", f"intention {label} permission[{index}] {permission.action}", top
                ),
            )
            for index, permission in enumerate(top.permissions)
        ),
        unmatched=f"no permission of intention {label} matches",
    )


def _unreadable(intention: Intention) -> Decision:
    return Decision(False, f"intention {intention.label()} cannot be read, so it denies: {intention.error}", intention)


def _default(allow: bool, why: str) -> Decision:
    return Decision(allow, f"{why}; default {'allow' if allow else 'deny'}")


def permission_matches(permission: Permission, request: RequestFacts) -> bool:
    if permission.unsupported:
        # Cannot evaluate (e.g. JWT): a deny is assumed to match and an allow not to, so an
        # unknown clause can only ever refuse more, never admit more.
        return permission.action == "deny"
    return permission.http is None or http_matches(permission.http, request)


def http_matches(match: HttpMatch, request: RequestFacts) -> bool:
    if not path_matches(match, request.path) or not method_matches(match.methods, request.method.upper()):
        return False
    return all(header_matches(h, request.headers.get(h.name)) for h in match.headers)
