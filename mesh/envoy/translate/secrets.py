"""SDS secrets from the TLS material in force: one leaf per local service and the trust bundle.

The agent obtains and rotates the leaves (Vault PKI) and the bundle (Consul CA roots, Vault); Envoy
only ever receives them over SDS, inline, so nothing of the key is written anywhere by Envoy. A
rotation is a new version of the same secret names: Envoy swaps them for new handshakes and keeps
established connections.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from mesh.certs.material import TlsMaterial
from mesh.envoy.translate import names
from mesh.envoy.translate.peer_validation import roots_validation_context


def secrets(tls: TlsMaterial | None) -> tuple[secret_pb2.Secret, ...]:
    if tls is None:
        return ()
    out = [
        secret_pb2.Secret(
            name=names.ROOTS_SECRET,
            # Envoy's SPIFFE validator: refuses CA and keyCertSign leaves and other trust domains,
            # as the builtin plane's peer check does (mesh/envoy/translate/peer_validation.py).
            validation_context=roots_validation_context(tls.trust_domain, tls.bundle_pem),
        )
    ]
    for service in sorted(tls.services):
        leaf = tls.services[service].leaf
        out.append(
            secret_pb2.Secret(
                name=names.leaf_secret(service),
                tls_certificate=common_pb2.TlsCertificate(
                    certificate_chain=base_pb2.DataSource(inline_string=leaf.fullchain_pem),
                    private_key=base_pb2.DataSource(inline_string=leaf.key_pem),
                ),
            )
        )
    return tuple(out)
