"""The trust bundle as a validation context that checks leaves as the builtin plane does (pure).

mesh.tls.peer refuses a peer's leaf that is a CA (`CA:TRUE`) or may sign certificates
(`keyCertSign`), after the chain verified. Envoy's default validator does not look at either;
its SPIFFE validator (`envoy.tls.cert_validator.spiffe`) does (the X.509-SVID leaf rules), and it
verifies the chain against the bundle of the leaf's own trust domain, so a leaf naming another
trust domain is refused in the handshake. The bundle rides in the validator's config, which is
part of the same SDS secret, so a rotation stays an SDS update.

For the `names.ROOTS_SECRET` secret (mesh.envoy.translate.secrets): the inbound chains take it as
their whole validation context; an upstream cluster merges its SAN match into it (the SPIFFE
validator applies `match_typed_subject_alt_names` too).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, extension_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_spiffe_validator_config_pb2

from mesh.envoy.translate.protos import pack

SPIFFE_VALIDATOR = "envoy.tls.cert_validator.spiffe"


def roots_validation_context(trust_domain: str, bundle_pem: str) -> common_pb2.CertificateValidationContext:
    """Leaves of `trust_domain` verified against `bundle_pem` (every root and intermediate in force)."""
    config = tls_spiffe_validator_config_pb2.SPIFFECertValidatorConfig(
        trust_domains=[
            tls_spiffe_validator_config_pb2.SPIFFECertValidatorConfig.TrustDomain(
                name=trust_domain.lower(), trust_bundle=base_pb2.DataSource(inline_string=bundle_pem)
            )
        ]
    )
    return common_pb2.CertificateValidationContext(
        custom_validator_config=extension_pb2.TypedExtensionConfig(name=SPIFFE_VALIDATOR, typed_config=pack(config))
    )
