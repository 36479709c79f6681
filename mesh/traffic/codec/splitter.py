"""service-splitter: Consul field names <-> ServiceSplitter."""

from __future__ import annotations

from typing import Any

from mesh.traffic.codec.common import compact, header_modifiers_from, header_modifiers_to
from mesh.traffic.model.splitter import ServiceSplitter, Split


def decode_splitter(name: str, raw: dict[str, Any]) -> ServiceSplitter:
    return ServiceSplitter(
        name=name,
        splits=tuple(
            Split(
                # Validated to two decimals; rounding drops the binary noise (33.33 * 100 != 3333).
                weight=round(float(s["Weight"]), 2),
                service=s.get("Service") or name,
                service_subset=s.get("ServiceSubset") or None,
                request_headers=header_modifiers_from(s.get("RequestHeaders")),
                response_headers=header_modifiers_from(s.get("ResponseHeaders")),
            )
            for s in raw["Splits"]
        ),
    )


def encode_splitter(doc: ServiceSplitter) -> dict[str, Any]:
    splits = [
        compact(
            {
                "Weight": s.weight,
                "Service": s.service if s.service != doc.name else None,
                "ServiceSubset": s.service_subset,
                "RequestHeaders": header_modifiers_to(s.request_headers),
                "ResponseHeaders": header_modifiers_to(s.response_headers),
            }
        )
        for s in doc.splits
    ]
    return {"Kind": doc.kind, "Name": doc.name, "Splits": splits}
