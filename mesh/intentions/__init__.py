"""Consul intentions evaluated locally: precedence, deny-wins, and L7 permissions (pure)."""

from mesh.intentions.decide import Decision, IntentionTable, RequestFacts
from mesh.intentions.model import Intention, IntentionFormatError, intention_from_consul, precedence
from mesh.intentions.reading import IntentionReading, read_intentions

__all__ = [
    "Decision",
    "Intention",
    "IntentionFormatError",
    "IntentionReading",
    "IntentionTable",
    "RequestFacts",
    "intention_from_consul",
    "precedence",
    "read_intentions",
]
