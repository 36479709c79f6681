"""Hypothesis strategies for valid traffic documents, as an operator would write them (service "api")."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

Doc = dict[str, Any]

OTHER_SERVICES = ("web", "db", "billing-v2")
SUBSETS = ("v1", "v2", "canary", "blue-1")
HEADER_NAMES = st.sampled_from(["x-canary", "X-User-Id", "accept", "x_trace"])
TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_./", min_size=1, max_size=10)
REGEXES = st.sampled_from(["/v[0-9]+/.*", "^/api/(users|orders)$", ".*", "[a-f0-9]{8}"])
FILTERS = st.sampled_from(["", "Service.Meta.version == v2", '"canary" in Service.Tags', "Service.Meta.zone != a"])
DATACENTERS = ("dc2", "dc3", "eu_west")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
RETRY_ON = ("5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "unavailable")

durations = st.one_of(
    st.integers(1, 100_000).map(lambda n: f"{n}ms"),
    st.integers(1, 3600).map(lambda n: f"{n}s"),
    st.tuples(st.integers(1, 59), st.integers(0, 59)).map(lambda t: f"{t[0]}m{t[1]}s"),
    st.integers(1, 999).map(lambda n: f"1.{n}s"),
)
percents = st.one_of(st.floats(0, 100, allow_nan=False), st.integers(0, 100))


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Doc]:
    return st.fixed_dictionaries({}, optional=fields)


header_modifiers = optional(
    Add=st.dictionaries(HEADER_NAMES, TEXT, max_size=2),
    Set=st.dictionaries(HEADER_NAMES, TEXT, max_size=2),
    Remove=st.lists(HEADER_NAMES, max_size=2),
)
retry_budgets = optional(
    Percent=percents, MinRetriesPerSecond=st.integers(0, 1000), TTL=st.integers(1, 60).map(lambda n: f"{n}s")
)


@st.composite
def retry_backoffs(draw: st.DrawFn) -> Doc:
    base = draw(st.integers(1, 1000))
    out: Doc = draw(st.fixed_dictionaries({}, optional={"BaseInterval": st.just(f"{base}ms")}))
    if draw(st.booleans()):
        floor = base if "BaseInterval" in out else 25
        out["MaxInterval"] = f"{floor + draw(st.integers(0, 10_000))}ms"
    return out


@st.composite
def faults(draw: st.DrawFn) -> Doc:
    delay = {"Percent": draw(percents), "Duration": draw(durations)}
    abort = {"Percent": draw(percents), "HTTPStatus": draw(st.integers(200, 599))}
    return draw(st.sampled_from([{"Delay": delay}, {"Abort": abort}, {"Delay": delay, "Abort": abort}]))


mirrors = st.fixed_dictionaries(
    {"Service": st.just("shadow")}, optional={"ServiceSubset": st.sampled_from(SUBSETS), "Percent": percents}
)


@st.composite
def http_matches(draw: st.DrawFn, *, catch_all: bool) -> Doc:
    """A route's Match.HTTP; unless `catch_all`, it always has a path condition."""
    if catch_all:
        return {}
    path_field = draw(st.sampled_from(["PathExact", "PathPrefix", "PathRegex"]))
    out: Doc = {
        path_field: draw(REGEXES)
        if path_field == "PathRegex"
        else "/" + draw(st.from_regex(r"[a-z0-9/]{0,8}", fullmatch=True))
    }
    headers = []
    for _ in range(draw(st.integers(0, 2))):
        condition = draw(st.sampled_from(["Present", "Exact", "Prefix", "Suffix", "Regex"]))
        value: Any = True if condition == "Present" else draw(REGEXES if condition == "Regex" else TEXT)
        header = {"Name": draw(HEADER_NAMES), condition: value}
        if draw(st.booleans()):
            header["Invert"] = True
        headers.append(header)
    if headers:
        out["Header"] = headers
    params = []
    for _ in range(draw(st.integers(0, 1))):
        condition = draw(st.sampled_from(["Present", "Exact", "Regex"]))
        value = True if condition == "Present" else draw(REGEXES if condition == "Regex" else TEXT)
        params.append({"Name": draw(st.sampled_from(["debug", "user"])), condition: value})
    if params:
        out["QueryParam"] = params
    methods = draw(st.lists(st.sampled_from(METHODS), unique=True, max_size=3))
    if methods:
        out["Methods"] = methods
    return out


@st.composite
def routes(draw: st.DrawFn, *, catch_all: bool) -> Doc:
    http = draw(http_matches(catch_all=catch_all))
    destination = draw(
        optional(
            Service=st.sampled_from(("api", *OTHER_SERVICES)),
            ServiceSubset=st.sampled_from(SUBSETS),
            RequestTimeout=durations,
            IdleTimeout=durations,
            NumRetries=st.integers(0, 10),
            RetryOnConnectFailure=st.booleans(),
            RetryOn=st.lists(st.sampled_from(RETRY_ON), unique=True, max_size=3),
            RetryOnStatusCodes=st.lists(st.integers(100, 599), max_size=3),
            RequestHeaders=header_modifiers,
            ResponseHeaders=header_modifiers,
            RetryBudget=retry_budgets,
            RetryBackoff=retry_backoffs(),
            Fault=faults(),
            Mirror=mirrors,
        )
    )
    if ("PathExact" in http or "PathPrefix" in http) and draw(st.booleans()):
        destination["PrefixRewrite"] = "/" + draw(st.from_regex(r"[a-z0-9/]{0,8}", fullmatch=True))
    route: Doc = {"Destination": destination}
    spell_out_empty_match = draw(st.booleans())  # an empty Match and no Match both mean "every request"
    if http or spell_out_empty_match:
        route["Match"] = {"HTTP": http}
    return route


@st.composite
def routers(draw: st.DrawFn) -> Doc:
    found = [draw(routes(catch_all=False)) for _ in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        found.append(draw(routes(catch_all=True)))  # only last: a route after a catch-all is refused
    return {"Kind": "service-router", "Routes": found} if draw(st.booleans()) else {"Routes": found}


@st.composite
def splitters(draw: st.DrawFn) -> Doc:
    destinations = draw(
        st.lists(
            st.tuples(st.sampled_from((None, "api", *OTHER_SERVICES)), st.sampled_from((None, *SUBSETS))),
            min_size=1,
            max_size=4,
            unique_by=lambda d: (d[0] or "api", d[1] or ""),
        )
    )
    cuts = sorted(
        draw(
            st.lists(st.integers(1, 9999), min_size=len(destinations) - 1, max_size=len(destinations) - 1, unique=True)
        )
    )
    units = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    splits = []
    for (service, subset), share in zip(destinations, units, strict=True):
        split: Doc = {"Weight": share // 100 if share % 100 == 0 else share / 100}
        if service:
            split["Service"] = service
        if subset:
            split["ServiceSubset"] = subset
        split.update(draw(optional(RequestHeaders=header_modifiers, ResponseHeaders=header_modifiers)))
        splits.append(split)
    return {"Splits": splits}


@st.composite
def hash_policies(draw: st.DrawFn) -> Doc:
    kind = draw(st.sampled_from(["header", "query_parameter", "cookie", "source"]))
    policy: Doc = (
        {"SourceIP": True}
        if kind == "source"
        else {"Field": kind, "FieldValue": draw(st.sampled_from(["x-user", "sid"]))}
    )
    if kind == "cookie" and draw(st.booleans()):
        policy["CookieConfig"] = draw(
            st.one_of(
                st.fixed_dictionaries({"Session": st.just(True)}, optional={"Path": st.just("/")}),
                st.fixed_dictionaries({"TTL": durations}, optional={"Path": st.just("/app")}),
            )
        )
    if draw(st.booleans()):
        policy["Terminal"] = True
    return policy


@st.composite
def load_balancers(draw: st.DrawFn) -> Doc:
    policy = draw(st.sampled_from(["", "random", "round_robin", "least_request", "ring_hash", "maglev"]))
    out: Doc = {"Policy": policy}
    if policy == "ring_hash" and draw(st.booleans()):
        low = draw(st.integers(1, 10_000))
        out["RingHashConfig"] = {"MinimumRingSize": low, "MaximumRingSize": low + draw(st.integers(0, 10_000))}
    if policy == "least_request" and draw(st.booleans()):
        out["LeastRequestConfig"] = {"ChoiceCount": draw(st.integers(2, 10))}
    if policy in ("ring_hash", "maglev"):
        out["HashPolicies"] = draw(st.lists(hash_policies(), max_size=3))
    return out


@st.composite
def failover_entries(draw: st.DrawFn, key: str, subsets: list[str]) -> Doc:
    others = [s for s in subsets if s != key]
    choices: list[Doc] = [
        {"Datacenters": draw(st.lists(st.sampled_from(DATACENTERS), min_size=1, unique=True))},
        {"Service": draw(st.sampled_from(OTHER_SERVICES))},
    ]
    if others:
        choices.append({"ServiceSubset": draw(st.sampled_from(others))})
    target = optional(Service=st.sampled_from(OTHER_SERVICES), Datacenter=st.sampled_from(DATACENTERS))
    choices.append({"Targets": draw(st.lists(target, min_size=1, max_size=3))})
    return draw(st.sampled_from(choices))


@st.composite
def resolvers(draw: st.DrawFn) -> Doc:
    subsets = draw(st.lists(st.sampled_from(SUBSETS), unique=True, max_size=3))
    out: Doc = draw(optional(ConnectTimeout=durations, RequestTimeout=durations, LoadBalancer=load_balancers()))
    if subsets:
        out["Subsets"] = {name: draw(optional(Filter=FILTERS, OnlyPassing=st.booleans())) for name in subsets}
        if draw(st.booleans()):
            out["DefaultSubset"] = draw(st.sampled_from(subsets))
    mode = draw(st.sampled_from(["none", "redirect", "failover"]))
    if mode == "redirect":
        redirects: list[Doc] = [
            {"Service": draw(st.sampled_from(OTHER_SERVICES))},
            {"Service": draw(st.sampled_from(OTHER_SERVICES)), "ServiceSubset": draw(st.sampled_from(SUBSETS))},
            {"Datacenter": draw(st.sampled_from(DATACENTERS))},
        ]
        if subsets:
            redirects.append({"Service": "api", "ServiceSubset": draw(st.sampled_from(subsets))})
        out["Redirect"] = draw(st.sampled_from(redirects))
    elif mode == "failover":
        keys = draw(st.lists(st.sampled_from(["*", *subsets]), min_size=1, unique=True))
        out["Failover"] = {key: draw(failover_entries(key, subsets)) for key in keys}
    return out


def _upstream_settings() -> st.SearchStrategy[Doc]:
    return optional(
        ConnectTimeoutMs=st.integers(0, 60_000),
        Limits=optional(
            MaxConnections=st.integers(1, 10_000),
            MaxPendingRequests=st.integers(1, 10_000),
            MaxConcurrentRequests=st.integers(1, 10_000),
        ),
        PassiveHealthCheck=optional(
            Interval=durations,
            MaxFailures=st.integers(0, 100),
            EnforcingConsecutive5xx=st.integers(0, 100),
            MaxEjectionPercent=st.integers(0, 100),
            BaseEjectionTime=durations,
        ),
        RetryBudget=retry_budgets,
        RetryBackoff=retry_backoffs(),
        MeshGateway=st.just({"Mode": "local"}),
    )


@st.composite
def buckets(draw: st.DrawFn, *, rate_required: bool) -> Doc:
    rate = draw(st.integers(1 if rate_required else 0, 1000))
    out: Doc = {"RequestsPerSecond": rate} if rate or draw(st.booleans()) else {}
    if rate and draw(st.booleans()):
        out["RequestsMaxBurst"] = rate + draw(st.integers(0, 1000))
    return out


@st.composite
def service_defaults(draw: st.DrawFn) -> Doc:
    out: Doc = draw(
        optional(
            Protocol=st.sampled_from(["", "tcp", "http", "http2", "grpc"]),
            MutualTLSMode=st.sampled_from(["", "strict", "permissive"]),
            MaxInboundConnections=st.integers(0, 10_000),
            LocalConnectTimeoutMs=st.integers(0, 60_000),
            LocalRequestTimeoutMs=st.integers(0, 60_000),
            Meta=st.dictionaries(st.sampled_from(["owner", "team"]), TEXT, max_size=2),
        )
    )
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(OTHER_SERVICES), unique=True, max_size=2))
        overrides = [{"Name": name, **draw(_upstream_settings())} for name in names]
        out["UpstreamConfig"] = draw(optional(Defaults=_upstream_settings())) | (
            {"Overrides": overrides} if overrides else {}
        )
    if out.get("Protocol") in (None, "", "http"):
        if draw(st.booleans()):
            level = draw(buckets(rate_required=False))
            paths = [{"PathPrefix": "/login"}, {"PathExact": "/health"}, {"PathRegex": "/v[0-9]+/.*"}]
            chosen = draw(st.lists(st.sampled_from(paths), max_size=2))
            if chosen:
                level["Routes"] = [path | draw(buckets(rate_required=True)) for path in chosen]
            out["RateLimits"] = {"InstanceLevel": level}
        if draw(st.booleans()):
            out["Fault"] = draw(faults())
    return out


DOCUMENTS: dict[str, st.SearchStrategy[Doc]] = {
    "service-defaults": service_defaults(),
    "service-resolver": resolvers(),
    "service-splitter": splitters(),
    "service-router": routers(),
}
