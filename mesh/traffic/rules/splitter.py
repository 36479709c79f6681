"""service-splitter rules: Consul's weight arithmetic and unique destinations."""

from __future__ import annotations

from typing import Any

from mesh.errors import Problem
from mesh.traffic.model.splitter import WEIGHT_UNITS_TOTAL
from mesh.traffic.paths import join
from mesh.traffic.rules.common import header_modifier_problems
from mesh.traffic.rules.fields import items, mapping, number, text

# Floats cannot hold 0.01 exactly; anything this close to a whole number of units counts as one.
_UNIT_TOLERANCE = 1e-6


def _format_percent(units: int) -> str:
    return f"{units / 100:.2f}".rstrip("0").rstrip(".")


def splitter_problems(name: str, doc: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    splits = items(doc.get("Splits"))
    units: list[int] = []
    seen: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(splits):
        path = join("Splits", index)
        split = mapping(raw)
        weight = number(split.get("Weight"))
        if weight is not None:
            scaled = weight * 100
            if abs(scaled - round(scaled)) > _UNIT_TOLERANCE:
                problems.append(
                    Problem(
                        join(path, "Weight"), f"has more than two decimal places ({weight:g}); 0.01 is the finest step"
                    )
                )
            units.append(round(scaled))
        destination = (text(split.get("Service")) or name, text(split.get("ServiceSubset")))
        if destination in seen:
            service, subset = destination
            problems.append(
                Problem(
                    path,
                    f"sends to the same destination as Splits[{seen[destination]}] "
                    f"(service {service!r}, subset {subset or '(default)'!r}); merge their weights",
                )
            )
        else:
            seen[destination] = index
        problems += header_modifier_problems(join(path, "RequestHeaders"), split.get("RequestHeaders"))
        problems += header_modifier_problems(join(path, "ResponseHeaders"), split.get("ResponseHeaders"))
    # Only add up when every weight is a number; otherwise the sum would blame the wrong thing.
    if splits and len(units) == len(splits) and sum(units) != WEIGHT_UNITS_TOTAL:
        problems.append(Problem("Splits", f"weights add up to {_format_percent(sum(units))}; they must add up to 100"))
    return problems
