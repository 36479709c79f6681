"""Metrics of the certificate lifecycle, registered in the agent's registry.

Leaf rotations and expiry live in `mesh.telemetry.metrics.Metrics` (the admin API and
dashboards already read them); what only this package produces is registered here.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from mesh.telemetry.metrics import Metrics


class CertMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.rotations = metrics.cert_rotations
        self.expiry = metrics.cert_expiry
        self.vault_requests = Counter(
            "mesh_vault_requests",
            "Requests sent to Vault, by operation and outcome (ok, refused, unavailable)",
            ["operation", "result"],
            registry=r,
        )
        self.vault_token_expiry = Gauge(
            "mesh_vault_token_expiry_timestamp_seconds", "When the agent's Vault token expires (0: never)", registry=r
        )
        self.bundle_certificates = Gauge(
            "mesh_trust_bundle_certificates", "CA certificates in the trust bundle in force", registry=r
        )
        self.bundle_updates = Counter(
            "mesh_trust_bundle_updates", "Trust bundle changes, by the source that changed it", ["source"], registry=r
        )
        self.renew_at = Gauge(
            "mesh_leaf_cert_renew_timestamp_seconds", "When each leaf is due for renewal", ["service"], registry=r
        )

    def vault_request(self, operation: str, result: str) -> None:
        self.vault_requests.labels(operation, result).inc()
