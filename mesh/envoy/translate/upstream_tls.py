"""The TLS a local service's Envoy cluster uses toward another host's inbound listener.

As the builtin plane dials: the caller's own leaf as the client certificate, the trust bundle,
Consul's SNI of the destination service (the other host picks its filter chain by it), and the
destination's SPIFFE ID required in the peer's URI SAN, so a host answering with any other
identity is refused however valid its certificate.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from mesh.envoy.translate import names
from mesh.envoy.translate.protos import pack, sds_secret
from mesh.identity import ServiceIdentity, sni_for

TLS_SOCKET = "envoy.transport_sockets.tls"
# What the builtin plane negotiates (TLS 1.2 or 1.3); Envoy's client default tops out at 1.2.
TLS_PARAMS = common_pb2.TlsParameters(
    tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2,
    tls_maximum_protocol_version=common_pb2.TlsParameters.TLSv1_3,
)


def spiffe_id(service: str, datacenter: str, trust_domain: str) -> str:
    return ServiceIdentity(trust_domain=trust_domain, datacenter=datacenter, service=service).spiffe_id


def upstream_transport_socket(
    caller: str,
    service: str,
    datacenter: str,
    trust_domain: str,
    *,
    alpn: tuple[str, ...],
    sds: config_source_pb2.ConfigSource | None,
) -> base_pb2.TransportSocket:
    validation = common_pb2.CertificateValidationContext(
        match_typed_subject_alt_names=[
            common_pb2.SubjectAltNameMatcher(
                san_type=common_pb2.SubjectAltNameMatcher.URI,
                matcher=string_pb2.StringMatcher(exact=spiffe_id(service, datacenter, trust_domain)),
            )
        ]
    )
    context = tls_pb2.UpstreamTlsContext(
        sni=sni_for(service, datacenter, trust_domain),
        common_tls_context=tls_pb2.CommonTlsContext(
            tls_params=TLS_PARAMS,
            alpn_protocols=list(alpn),
            tls_certificate_sds_secret_configs=[sds_secret(names.leaf_secret(caller), sds)],
            combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                default_validation_context=validation,
                validation_context_sds_secret_config=sds_secret(names.ROOTS_SECRET, sds),
            ),
        ),
    )
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(context))
