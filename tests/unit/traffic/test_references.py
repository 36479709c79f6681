"""Checks across documents, as Consul's discovery-chain compiler makes them."""

from mesh.errors import Problem
from mesh.traffic import DocumentId, TrafficDocument, check_references, parse_document
from mesh.traffic.planes import ENVOY_L7, l7_protocols

RESOLVER_API = ("service-resolver", "api", "Subsets: {v1: {}, v2: {}}")


def docs(*specs: tuple[str, str, str]) -> list[TrafficDocument]:
    return [parse_document(kind, name, text) for kind, name, text in specs]


def test_consistent_documents_have_no_problems() -> None:
    found = check_references(
        docs(
            ("service-defaults", "api", "Protocol: http"),
            RESOLVER_API,
            ("service-splitter", "api", "Splits: [{Weight: 90, ServiceSubset: v1}, {Weight: 10, ServiceSubset: v2}]"),
            ("service-router", "api", "Routes: [{Match: {HTTP: {PathPrefix: /x}}, Destination: {ServiceSubset: v2}}]"),
        )
    )
    assert found == []


def test_a_split_to_a_subset_the_resolver_does_not_define() -> None:
    found = check_references(
        docs(
            RESOLVER_API,
            ("service-splitter", "api", "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v3}]"),
        )
    )
    assert found == [
        (
            DocumentId("service-splitter", "api"),
            Problem(
                "Splits[1].ServiceSubset", "service 'api' has no subset 'v3': service-resolver/api does not define it"
            ),
        )
    ]


def test_a_subset_of_a_service_without_any_resolver() -> None:
    found = check_references(
        docs(("service-router", "web", "Routes: [{Destination: {Service: api, ServiceSubset: v2}}]"))
    )
    assert found == [
        (
            DocumentId("service-router", "web"),
            Problem(
                "Routes[0].Destination.ServiceSubset",
                "service 'api' has no subset 'v2': there is no service-resolver/api document to define it",
            ),
        )
    ]


def test_a_mirror_to_an_undefined_subset() -> None:
    found = check_references(
        docs(
            RESOLVER_API,
            (
                "service-router",
                "api",
                "Routes: [{Destination: {ServiceSubset: v1, Mirror: {Service: api, ServiceSubset: v9}}}]",
            ),
        )
    )
    assert [p.path for _, p in found] == ["Routes[0].Destination.Mirror.ServiceSubset"]


def test_subsets_are_looked_up_after_following_redirects() -> None:
    found = check_references(
        docs(
            ("service-resolver", "api", "Redirect: {Service: api-next}"),
            ("service-resolver", "api-next", "Subsets: {v2: {}}"),
            # Consul drops the subset when a redirect changes the service, so this resolves to api-next.
            ("service-router", "web", "Routes: [{Destination: {Service: api, ServiceSubset: v1}}]"),
            ("service-resolver", "old", "Redirect: {Service: api-next, ServiceSubset: v7}"),
        )
    )
    assert found == [
        (
            DocumentId("service-resolver", "old"),
            Problem(
                "Redirect.ServiceSubset",
                "service 'api-next' has no subset 'v7': service-resolver/api-next does not define it",
            ),
        )
    ]


def test_a_redirect_loop_is_reported_on_each_resolver_in_it() -> None:
    found = check_references(
        docs(("service-resolver", "a", "Redirect: {Service: b}"), ("service-resolver", "b", "Redirect: {Service: a}"))
    )
    assert found == [
        (DocumentId("service-resolver", "a"), Problem("Redirect", "redirect loop: a -> b -> a")),
        (DocumentId("service-resolver", "b"), Problem("Redirect", "redirect loop: b -> a -> b")),
    ]


def test_a_redirect_to_another_datacenter_is_not_a_loop() -> None:
    assert check_references(docs(("service-resolver", "a", "Redirect: {Datacenter: dc2}"))) == []


def test_a_split_loop_is_reported_on_each_splitter_in_it() -> None:
    found = check_references(
        docs(
            ("service-splitter", "a", "Splits: [{Weight: 50, Service: b}, {Weight: 50, Service: c}]"),
            ("service-splitter", "b", "Splits: [{Weight: 100, Service: a}]"),
        )
    )
    assert found == [
        (DocumentId("service-splitter", "a"), Problem("Splits[0]", "split loop: a -> b -> a")),
        (DocumentId("service-splitter", "b"), Problem("Splits[0]", "split loop: b -> a -> b")),
    ]


def test_a_split_to_its_own_service_or_to_a_subset_goes_to_the_resolver_not_around_again() -> None:
    found = check_references(
        docs(
            ("service-resolver", "b", "Subsets: {v1: {}}"),
            ("service-splitter", "a", "Splits: [{Weight: 50}, {Weight: 50, Service: b, ServiceSubset: v1}]"),
            ("service-splitter", "b", "Splits: [{Weight: 100, Service: a}]"),
        )
    )
    assert found == []


def test_failover_targets_in_another_service_must_have_the_subset() -> None:
    found = check_references(
        docs(
            RESOLVER_API, ("service-resolver", "web", "Failover: {'*': {Targets: [{Service: api, ServiceSubset: v5}]}}")
        )
    )
    assert [(str(i), p.path) for i, p in found] == [("service-resolver/web", 'Failover["*"].Targets[0].ServiceSubset')]


def test_routers_and_splitters_need_http_services() -> None:
    found = check_references(
        docs(
            ("service-defaults", "db", "Protocol: tcp"),
            ("service-defaults", "api", "Protocol: grpc"),
            ("service-router", "web", "Routes: [{Destination: {Service: db}}]"),
            ("service-splitter", "api", "Splits: [{Weight: 100}]"),
        )
    )
    assert found == [
        (
            DocumentId("service-router", "web"),
            Problem(
                "Routes[0].Destination.Service",
                "service 'db' has Protocol 'tcp' (service-defaults/db), which is plain TCP; "
                "route destinations need HTTP",
            ),
        ),
        (
            DocumentId("service-splitter", "api"),
            Problem(
                "",
                "cannot split: service 'api' has Protocol 'grpc' (service-defaults/api), which the builtin data "
                "plane carries as opaque TCP (HTTP/2 and gRPC at L7 need data_plane: envoy); "
                'splitting needs Protocol "http"',
            ),
        ),
    ]


GRPC_DOCS = (
    ("service-defaults", "api", "Protocol: grpc"),
    ("service-defaults", "billing", "Protocol: http2"),
    ("service-resolver", "api", "Subsets: {v1: {}, v2: {}}"),
    ("service-splitter", "api", "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v2}]"),
    (
        "service-router",
        "api",
        "Routes: [{Match: {HTTP: {PathPrefix: /pkg.Billing/}}, Destination: {Service: billing, "
        "RetryOn: [cancelled, deadline-exceeded, resource-exhausted, unavailable]}}]",
    ),
)


def test_the_builtin_plane_refuses_l7_documents_of_http2_and_grpc_services_naming_the_envoy_plane() -> None:
    found = check_references(docs(*GRPC_DOCS))
    assert [(str(i), p.path) for i, p in found] == [
        ("service-splitter/api", ""),
        ("service-router/api", ""),
        ("service-router/api", "Routes[0].Destination.Service"),
    ]
    assert all("need data_plane: envoy" in p.message for _, p in found)


def test_the_envoy_plane_accepts_l7_documents_of_http2_and_grpc_services() -> None:
    assert check_references(docs(*GRPC_DOCS), l7=ENVOY_L7) == []
    assert check_references(docs(*GRPC_DOCS), l7=l7_protocols("envoy")) == []
    assert check_references(docs(*GRPC_DOCS), l7=l7_protocols("builtin")) != []


def test_the_envoy_plane_still_refuses_l7_documents_of_tcp_services() -> None:
    found = check_references(
        docs(("service-defaults", "db", "Protocol: tcp"), ("service-router", "db", "Routes: [{Destination: {}}]")),
        l7=ENVOY_L7,
    )
    assert found == [
        (
            DocumentId("service-router", "db"),
            Problem(
                "",
                "cannot route: service 'db' has Protocol 'tcp' (service-defaults/db), which is plain TCP; "
                'routes need Protocol "grpc" or "http" or "http2"',
            ),
        )
    ]
