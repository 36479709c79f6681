"""Readiness: what makes the agent not ready, and what makes it ready but degraded (fail-static)."""

from __future__ import annotations

import ssl

from agent.status import Readiness, readiness
from mesh.certs.material import TlsMaterial
from mesh.config.model import AgentConfig
from mesh.snapshot.model import MeshSnapshot

# No local services: no leaf is needed, so only the Consul-related rules speak.
CONFIG = AgentConfig(node="n1", advertise_address="10.0.0.1")
TLS = TlsMaterial("td.consul", (), {}, ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
REQUIRED = frozenset({"intentions", "kv"})
NOW = 1_700_000_000.0


def judge(
    *,
    registered: bool = True,
    synced: frozenset[str] = REQUIRED,
    restored: frozenset[str] = frozenset(),
    down_since: float | None = None,
) -> Readiness:
    return readiness(
        registered=registered,
        tls=TLS,
        config=CONFIG,
        snapshot=MeshSnapshot(synced=synced, restored=restored),
        required=REQUIRED,
        consul_unreachable_since=down_since,
        now=NOW,
    )


def test_registered_and_synced_is_ready_without_warnings() -> None:
    assert judge() == Readiness(reasons=(), warnings=())


def test_a_source_never_answered_and_not_persisted_keeps_the_agent_not_ready() -> None:
    state = judge(synced=frozenset({"intentions"}))
    assert state.reasons == ("waiting for first Consul sync of kv",)


def test_not_registered_with_consul_answering_is_not_ready() -> None:
    assert judge(registered=False).reasons == ("not registered in Consul",)


def test_consul_unreachable_after_a_good_start_is_ready_and_says_fail_static() -> None:
    state = judge(down_since=NOW - 42)
    assert state.ready
    assert state.fail_static
    assert "Consul unreachable since" in state.warnings[0]
    assert "(42s)" in state.warnings[0]


def test_a_restart_during_an_outage_serves_from_state_dir_unregistered_and_ready() -> None:
    state = judge(registered=False, synced=frozenset(), restored=REQUIRED, down_since=NOW - 5)
    assert state.ready
    assert state.fail_static
    assert any("serving intentions, kv from the snapshot persisted in state_dir" in w for w in state.warnings)
    assert any("not registered in Consul yet" in w for w in state.warnings)


def test_restored_sources_are_fail_static_even_once_consul_answers_until_synced() -> None:
    state = judge(synced=frozenset({"intentions"}), restored=frozenset({"kv"}))
    assert state.ready
    assert state.fail_static
    assert judge(synced=REQUIRED, restored=frozenset()).fail_static is False
