"""Consul intentions evaluated locally: precedence, deny-wins, and L7 permissions (pure)."""

from mesh.intentions.decide import Decision, IntentionTable, RequestFacts
from mesh.intentions.model import Intention, IntentionFormatError, intention_from_consul, precedence

__all__ = [
    "Decision",
    "Intention",
    "IntentionFormatError",
    "IntentionTable",
    "RequestFacts",
    "intention_from_consul",
    "precedence",
]
