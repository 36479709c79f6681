"""Traffic documents used by the config tests: a resolver with two subsets and a canary splitter."""

from __future__ import annotations

RESOLVER_YAML = """\
DefaultSubset: v1
Subsets:
  v1:
    Filter: Service.Meta.version == v1
  v2:
    Filter: Service.Meta.version == v2
"""

RESOLVER_WITHOUT_V2_YAML = """\
DefaultSubset: v1
Subsets:
  v1:
    Filter: Service.Meta.version == v1
"""

SPLITTER_JSON = """\
{
  "Kind": "service-splitter",
  "Name": "api",
  "Splits": [
    {"Weight": 90, "ServiceSubset": "v1"},
    {"Weight": 10, "ServiceSubset": "v2"}
  ]
}
"""

# Two problems, each reported with its key path.
INVALID_SPLITTER_YAML = """\
Splits:
  - Weight: 90
    ServiceSubset: v1
  - Wieght: 10
    ServiceSubset: v2
"""
