"""The roots secret's validation context: Envoy's SPIFFE validator with the bundle of our trust domain."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict

from mesh.envoy.translate.peer_validation import SPIFFE_VALIDATOR, roots_validation_context


def test_the_bundle_is_the_spiffe_validators_for_our_trust_domain_only() -> None:
    context = MessageToDict(roots_validation_context("TD.consul", "-----BEGIN CERTIFICATE-----\n"))
    validator = context["customValidatorConfig"]
    assert validator["name"] == SPIFFE_VALIDATOR
    (domain,) = validator["typedConfig"]["trustDomains"]
    # The builtin plane compares trust domains in lower case.
    assert domain == {"name": "td.consul", "trustBundle": {"inlineString": "-----BEGIN CERTIFICATE-----\n"}}
    assert "trustedCa" not in context  # the validator's bundle is the only one
