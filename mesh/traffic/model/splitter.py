"""service-splitter: share a service's requests by weight among subsets or other services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mesh.traffic.keys import SERVICE_SPLITTER, DocumentId
from mesh.traffic.model.common import HeaderModifiers

# Weights are percentages with two decimals, so a split's share is a whole number of these units.
WEIGHT_UNITS_TOTAL = 10_000


@dataclass(frozen=True, slots=True)
class Split:
    """`weight` percent of the requests go to `service`, subset `service_subset` (None: that
    service's default subset). A split to another service that has its own splitter (and no
    subset) is split again by that splitter, as in Consul."""

    weight: float
    service: str
    service_subset: str | None = None
    request_headers: HeaderModifiers | None = None
    response_headers: HeaderModifiers | None = None

    @property
    def weight_units(self) -> int:
        """The weight in hundredths of a percent (1..10000); a splitter's units add up to 10000."""
        return round(self.weight * 100)


@dataclass(frozen=True, slots=True)
class ServiceSplitter:
    """The service-splitter document of service `name`; its splits' weights add up to 100."""

    kind: ClassVar[str] = SERVICE_SPLITTER

    name: str
    splits: tuple[Split, ...]

    @property
    def id(self) -> DocumentId:
        return DocumentId(self.kind, self.name)
