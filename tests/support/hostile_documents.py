"""KV documents written to hurt the agents that read them, as the issue-12 attack wrote them.

Each is a few hundred bytes to a few hundred KB: small enough for Consul to store, and each
broke every agent before the document limits (mesh.documents.limits) existed.
"""

from __future__ import annotations

# 100,000 nested JSON arrays (200 KB): the parsers recurse once per level.
DEEP_JSON = "[" * 100_000 + "]" * 100_000
# The same nesting as a YAML flow sequence under a block mapping, and inside a flow mapping
# (which is not JSON, so it is read as YAML after JSON refuses it).
DEEP_YAML = "Splits: " + "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_YAML_FLOW_MAPPING = "{Splits: " + "[" * 100_000 + "]" * 100_000 + "}"
# An integer of 5,000 digits: past Python's 4,300-digit limit for int(str).
HUGE_INTEGER = '{"MaxInboundConnections": ' + "9" * 5000 + "}"


def alias_bomb(levels: int = 8, fan_out: int = 9) -> str:
    """A YAML "billion laughs": `levels` levels of `fan_out` aliases to the level below
    (8 x 9: about 370 bytes that expand to 9**8 = 43 million strings)."""
    lines = ["l0: &l0 lol"]
    for level in range(1, levels + 1):
        aliases = ",".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


ALIAS_BOMB = alias_bomb()
