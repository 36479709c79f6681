"""service-resolver: Consul's rules on subsets, redirect, failover and load balancing."""

from typing import Any

import pytest

from mesh.errors import Problem
from mesh.traffic import document_problems

from .refusals import problems_of, refused_at

KIND = "service-resolver"
SUBSETS = {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        pytest.param(
            {"DefaultSubset": "v3", "Subsets": SUBSETS},
            "DefaultSubset",
            "names subset 'v3', which Subsets does not define (defined: v1, v2)",
            id="default-subset-defined",
        ),
        pytest.param(
            {"Subsets": {"v1": {"Filter": "Service.Meta.version = v1"}}},
            "Subsets.v1.Filter",
            "is not a valid filter expression: 1:22 (21)",
            id="filter-compiles",
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Redirect": {"Service": "web"}, "Failover": {"*": {"Datacenters": ["dc2"]}}},
            "Redirect",
            "cannot be set together with Failover (Consul's rule)",
            id="redirect-or-failover",
        ),
        pytest.param(
            {"Redirect": {}}, "Redirect", "is empty; set Service, ServiceSubset or Datacenter", id="redirect-empty"
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Redirect": {"ServiceSubset": "v2"}},
            "Redirect.ServiceSubset",
            "needs Redirect.Service (use 'api' for a subset of this service)",
            id="redirect-subset-needs-service",
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Redirect": {"Service": "api", "ServiceSubset": "v3"}},
            "Redirect.ServiceSubset",
            "names subset 'v3', which Subsets does not define (defined: v1, v2)",
            id="redirect-own-subset-defined",
        ),
        pytest.param(
            {"Redirect": {"Service": "api"}}, "Redirect", "redirects the service to itself", id="redirect-self"
        ),
        pytest.param(
            {"Failover": {"*": {}}},
            'Failover["*"]',
            "is empty; set Service, ServiceSubset, Datacenters or Targets",
            id="failover-empty",
        ),
        pytest.param(
            {"Failover": {"*": {"Datacenters": ["dc2"], "Targets": [{"Datacenter": "dc3"}]}}},
            'Failover["*"].Targets',
            "cannot be set together with Datacenters",
            id="targets-or-datacenters",
        ),
        pytest.param(
            {"Failover": {"*": {"Service": "web", "Targets": [{"Datacenter": "dc3"}]}}},
            'Failover["*"].Targets',
            "cannot be set together with Service",
            id="targets-or-service",
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Failover": {"v1": {"ServiceSubset": "v3"}}},
            "Failover.v1.ServiceSubset",
            "names subset 'v3', which Subsets does not define (defined: v1, v2)",
            id="failover-own-subset-defined",
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Failover": {"*": {"Targets": [{"ServiceSubset": "v9"}]}}},
            'Failover["*"].Targets[0].ServiceSubset',
            "names subset 'v9', which Subsets does not define (defined: v1, v2)",
            id="failover-target-subset-defined",
        ),
        pytest.param(
            {"Subsets": SUBSETS, "Failover": {"v1": {"ServiceSubset": "v1"}}},
            "Failover.v1",
            "fails over to the very subset that failed",
            id="failover-to-itself",
        ),
        pytest.param(
            {"Failover": {"*": {"Datacenters": ["dc2", "dc2"]}}},
            'Failover["*"].Datacenters[1]',
            "repeats datacenter 'dc2'",
            id="datacenters-unique",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "round_robin", "HashPolicies": [{"SourceIP": True}]}},
            "LoadBalancer.HashPolicies",
            "need Policy ring_hash or maglev, not 'round_robin'",
            id="hash-policies-need-hash-lb",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "maglev", "RingHashConfig": {"MinimumRingSize": 1024}}},
            "LoadBalancer.RingHashConfig",
            "only applies to Policy \"ring_hash\", not 'maglev'",
            id="ring-config-with-ring-hash",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "random", "LeastRequestConfig": {"ChoiceCount": 3}}},
            "LoadBalancer.LeastRequestConfig",
            "only applies to Policy \"least_request\", not 'random'",
            id="least-request-config",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "ring_hash", "HashPolicies": [{"Field": "header"}]}},
            "LoadBalancer.HashPolicies[0].FieldValue",
            "is required: the name of the header to hash",
            id="field-needs-value",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "ring_hash", "HashPolicies": [{"FieldValue": "x-user"}]}},
            "LoadBalancer.HashPolicies[0].Field",
            "is required with FieldValue (header, cookie or query_parameter)",
            id="value-needs-field",
        ),
        pytest.param(
            {
                "LoadBalancer": {
                    "Policy": "ring_hash",
                    "HashPolicies": [{"Field": "header", "FieldValue": "a", "SourceIP": True}],
                }
            },
            "LoadBalancer.HashPolicies[0]",
            "hashes either SourceIP or a Field, not both",
            id="source-ip-or-field",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "maglev", "HashPolicies": [{"Terminal": True}]}},
            "LoadBalancer.HashPolicies[0]",
            "must set Field (with FieldValue) or SourceIP",
            id="hash-something",
        ),
        pytest.param(
            {
                "LoadBalancer": {
                    "Policy": "ring_hash",
                    "HashPolicies": [{"Field": "header", "FieldValue": "a", "CookieConfig": {"Path": "/"}}],
                }
            },
            "LoadBalancer.HashPolicies[0].CookieConfig",
            'only applies to Field "cookie"',
            id="cookie-config-with-cookie",
        ),
        pytest.param(
            {
                "LoadBalancer": {
                    "Policy": "ring_hash",
                    "HashPolicies": [
                        {"Field": "cookie", "FieldValue": "s", "CookieConfig": {"Session": True, "TTL": "1h"}}
                    ],
                }
            },
            "LoadBalancer.HashPolicies[0].CookieConfig",
            "a session cookie cannot have a TTL",
            id="session-cookie-no-ttl",
        ),
        pytest.param(
            {
                "LoadBalancer": {
                    "Policy": "ring_hash",
                    "RingHashConfig": {"MinimumRingSize": 4096, "MaximumRingSize": 1024},
                }
            },
            "LoadBalancer.RingHashConfig",
            "MinimumRingSize is larger than MaximumRingSize",
            id="ring-sizes-ordered",
        ),
        pytest.param(
            {"LoadBalancer": {"Policy": "least_request", "LeastRequestConfig": {"ChoiceCount": 1}}},
            "LoadBalancer.LeastRequestConfig.ChoiceCount",
            "must be at least 2 to compare anything",
            id="choice-count",
        ),
    ],
)
def test_consul_resolver_rules(doc: dict[str, Any], path: str, message: str) -> None:
    assert any(message in m for m in refused_at(KIND, doc, path))


def test_failover_to_another_datacenter_or_service_is_valid() -> None:
    doc = {
        "Subsets": SUBSETS,
        "Failover": {"*": {"Datacenters": ["dc2"]}, "v2": {"ServiceSubset": "v1"}},
        "LoadBalancer": {
            "Policy": "ring_hash",
            "HashPolicies": [{"Field": "cookie", "FieldValue": "s", "CookieConfig": {"TTL": "1h"}}],
        },
    }
    assert problems_of(KIND, doc) == []


def test_filters_are_checked_with_the_compiler_given() -> None:
    def refuse_all(expression: str) -> object:
        raise ValueError(f"refused {expression!r}")

    _, problems = document_problems(KIND, "api", '{"Subsets": {"v1": {"Filter": "x"}}}', compile_filter=refuse_all)
    assert problems == [Problem("Subsets.v1.Filter", "is not a valid filter expression: refused 'x'")]
