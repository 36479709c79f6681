"""Structure and types, checked by the published JSON Schemas, worded for operators."""

from typing import Any

import pytest

from mesh.errors import Problem

from .refusals import problems_of, refused_at

ROUTER = "service-router"


def test_kind_and_name_may_be_left_out_but_must_agree_with_the_key() -> None:
    assert problems_of("service-defaults", {"Protocol": "http"}) == []
    assert problems_of("service-defaults", {"Kind": "service-defaults", "Name": "api"}) == []
    assert problems_of("service-defaults", {"Kind": "ServiceDefaults", "Name": "web"}) == [
        Problem("Kind", "is 'ServiceDefaults' but the key says 'service-defaults'"),
        Problem("Name", "is 'web' but the key names service 'api'"),
    ]


def test_a_document_written_under_another_kind_s_key_is_reported_once() -> None:
    doc = {"Kind": "service-router", "Routes": [{"Destination": {"ServiceSubset": "v2"}}]}
    assert problems_of("service-splitter", doc) == [
        Problem("Kind", "is 'service-router' but the key says 'service-splitter'; was it written under the wrong key?")
    ]


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        pytest.param(
            {"Routes": [{"Match": {"HTTP": {"PathPrefx": "/a"}}}]},
            "Routes[0].Match.HTTP.PathPrefx",
            "unknown key (did you mean 'PathPrefix'?)",
            id="typo",
        ),
        pytest.param(
            {"Routes": [{"Destination": {"service_subset": "v2"}}]},
            "Routes[0].Destination.service_subset",
            "unknown key; write 'ServiceSubset' (the mesh reads Consul's canonical CamelCase field names)",
            id="snake-case",
        ),
        pytest.param(
            {"Routes": [{"Destination": {"numRetries": 2}}]},
            "Routes[0].Destination.numRetries",
            "unknown key; write 'NumRetries' (the mesh reads Consul's canonical CamelCase field names)",
            id="kubernetes-casing",
        ),
        pytest.param(
            {"Routes": [{"Match": {"PathPrefix": "/a"}}]},
            "Routes[0].Match.PathPrefix",
            "unknown key here; it belongs under Routes[0].Match.HTTP",
            id="misplaced-under-match",
        ),
        pytest.param(
            {"Routes": [{"Destination": {"Peer": "other"}}]},
            "Routes[0].Destination.Peer",
            "not supported: cluster peering is not supported by this mesh",
            id="peering",
        ),
        pytest.param(
            {"Routes": [], "Colour": "blue"},
            "Colour",
            "unknown key; expected one of Kind, Meta, Name, Namespace, Partition, Routes",
            id="nothing-close",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_a_hint(doc: dict[str, Any], path: str, message: str) -> None:
    assert refused_at(ROUTER, doc, path) == [message]


@pytest.mark.parametrize(
    ("kind", "doc", "path", "message"),
    [
        (
            "service-defaults",
            {"EnvoyExtensions": []},
            "EnvoyExtensions",
            "not supported: Envoy escape hatches do not apply: this mesh runs its own proxy, not Envoy",
        ),
        (
            "service-defaults",
            {"Destination": {"Addresses": ["10.0.0.1"], "Port": 443}},
            "Destination",
            "not supported: terminating-gateway destinations are not supported by this mesh",
        ),
        (
            "service-defaults",
            {"UpstreamConfig": {"Defaults": {"Protocol": "http"}}},
            "UpstreamConfig.Defaults.Protocol",
            "not supported: set an upstream's protocol in that upstream's own service-defaults document",
        ),
        (
            "service-resolver",
            {"Failover": {"*": {"Datacenters": ["dc2"], "Policy": {"Mode": "order-by-locality"}}}},
            'Failover["*"].Policy',
            "not supported: failover policies (order-by-locality) are not supported; "
            "list Targets or Datacenters in the order to try",
        ),
        (
            "service-splitter",
            {"Splits": [{"Weight": 100}], "Namespace": "team-a"},
            "Namespace",
            'this mesh serves the "default" namespace and partition only; use "default" or leave it out, got "team-a"',
        ),
    ],
)
def test_consul_fields_the_mesh_cannot_honour_are_refused_saying_why(
    kind: str, doc: dict[str, Any], path: str, message: str
) -> None:
    assert refused_at(kind, doc, path) == [message]


def test_consul_fields_that_do_not_apply_are_accepted_and_ignored() -> None:
    doc = {
        "Namespace": "default",
        "Partition": "",
        "Meta": {"owner": "team-a"},
        "Mode": "transparent",
        "TransparentProxy": {"OutboundListenerPort": 15001},
        "MeshGateway": {"Mode": "local"},
        "BalanceInboundConnections": "exact_balance",
        "Expose": {"Checks": True},
        "UpstreamConfig": {"Defaults": {"MeshGateway": {"Mode": "remote"}, "BalanceOutboundConnections": ""}},
    }
    assert problems_of("service-defaults", doc) == []
    assert problems_of("service-resolver", {"PrioritizeByLocality": {"Mode": "failover"}}) == []


@pytest.mark.parametrize(
    ("kind", "doc", "path", "message"),
    [
        (
            ROUTER,
            {"Routes": [{"Match": {"HTTP": {"Header": [{"Name": "x-canary", "Exact": True}]}}}]},
            "Routes[0].Match.HTTP.Header[0].Exact",
            "must be a string, got boolean true (YAML reads unquoted yes/no/on/off/true/false as booleans: "
            "quote the value)",
        ),
        (
            ROUTER,
            {"Routes": [{"Match": {"HTTP": {"Header": [{"Name": "x-canary", "Exact": 1}]}}}]},
            "Routes[0].Match.HTTP.Header[0].Exact",
            "must be a string, got integer 1 (quote it to make it a string)",
        ),
        (
            ROUTER,
            {"Routes": {"Destination": {}}},
            "Routes",
            "must be an array, got object",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"NumRetries": 1.5}}]},
            "Routes[0].Destination.NumRetries",
            "must be an integer, got number 1.5",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"RequestTimeout": "5"}}]},
            "Routes[0].Destination.RequestTimeout",
            'must be a duration such as "250ms", "15s" or "1m30s" (units ns, us, ms, s, m, h), got "5"',
        ),
        (
            "service-resolver",
            {"ConnectTimeout": "-1s"},
            "ConnectTimeout",
            'must be a duration such as "250ms", "15s" or "1m30s" (units ns, us, ms, s, m, h), got "-1s"',
        ),
        (
            "service-defaults",
            {"Protocol": "HTTP"},
            "Protocol",
            'must be one of "tcp", "http", "http2", "grpc", got "HTTP" '
            '(did you mean "http"? values are case-sensitive)',
        ),
        (
            "service-defaults",
            {"MutualTLSMode": "optional"},
            "MutualTLSMode",
            'must be one of "strict", "permissive", got "optional"',
        ),
        (
            "service-resolver",
            {"LoadBalancer": {"Policy": "least_conn"}},
            "LoadBalancer.Policy",
            'must be one of "random", "round_robin", "least_request", "ring_hash", "maglev", got "least_conn"',
        ),
        (
            "service-resolver",
            {"Subsets": {"V2": {}}},
            "Subsets.V2",
            "is not a valid key here: must be a subset name: lower-case letters, digits and dashes, at most 63 "
            "characters, starting and ending with a letter or digit",
        ),
        (
            "service-resolver",
            {"Failover": {"any": {"Datacenters": ["dc2"]}}},
            "Failover.any",
            "is keyed by subset 'any', which Subsets does not define; \"*\" means any subset",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"RetryOnStatusCodes": [503, 700]}}]},
            "Routes[0].Destination.RetryOnStatusCodes[1]",
            "must be an HTTP status code from 100 to 599, got 700",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"NumRetries": -1}}]},
            "Routes[0].Destination.NumRetries",
            "must be at least 0, got -1",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"Fault": {"Abort": {"Percent": 150, "HTTPStatus": 503}}}}]},
            "Routes[0].Destination.Fault.Abort.Percent",
            "must be a percentage between 0 and 100, got 150",
        ),
        (
            ROUTER,
            {"Routes": [{"Destination": {"Fault": {"Abort": {"Percent": 1}}}}]},
            "Routes[0].Destination.Fault.Abort.HTTPStatus",
            "is required",
        ),
        (
            ROUTER,
            {"Routes": [{"Match": {"HTTP": {"Header": [{"Exact": "1"}]}}}]},
            "Routes[0].Match.HTTP.Header[0].Name",
            "is required",
        ),
        (
            "service-splitter",
            {},
            "Splits",
            "is required",
        ),
        (
            "service-splitter",
            {"Splits": []},
            "Splits",
            "must have at least 1 item",
        ),
    ],
)
def test_wrong_types_and_values_are_refused_at_their_path(
    kind: str, doc: dict[str, Any], path: str, message: str
) -> None:
    assert message in refused_at(kind, doc, path)


def test_every_problem_is_reported_at_once() -> None:
    doc = {
        "Kind": "service-router",
        "Name": "web",
        "Routes": [
            {"Match": {"HTTP": {"PathPrefix": "api"}}, "Destination": {"NumRetries": "3"}},
            {"Destination": {"RetryOn": ["sometimes"], "Colour": "red"}},
        ],
    }
    paths = [p.path for p in problems_of(ROUTER, doc)]
    assert sorted(paths) == sorted(
        [
            "Name",
            "Routes[0].Destination.NumRetries",
            "Routes[0].Match.HTTP.PathPrefix",
            "Routes[1].Destination.RetryOn[0]",
            "Routes[1].Destination.Colour",
        ]
    )
