"""What a SIGHUP applies live, and what it leaves for a restart."""

from __future__ import annotations

import dataclasses

import pytest

from agent.reload_plan import RESTART_ONLY, plan_reload
from mesh.config.model import AgentConfig, ConsulSettings, HostPort, LocalService, Upstream

API = LocalService(name="api", id="api-1", port=8080)
WEB = LocalService(
    name="web", id="web-1", port=8081, upstreams=(Upstream(destination_name="api", local_bind_port=15001),)
)
RUNNING = AgentConfig(node="n1", advertise_address="10.0.0.1", services=(API, WEB))

# Applied live; every other field must be named in RESTART_ONLY (a new field must be classified).
# unused_sections: what the file held but the agent does not read (warnings only), as loaded.
LIVE = {"services", "mtls_mode", "intentions_default", "log_level", "access_log", "unused_sections"}
RESTART_KEYS = {
    "node": "node",
    "datacenter": "datacenter",
    "advertise_address": "advertise_address",
    "trust_domain": "trust_domain",
    "inbound_listen": "inbound.listen",
    "admin_listen": "admin.listen",
    "admin_allow_remote": "admin.allow_remote",
    "state_dir": "state_dir",
    "consul": "consul",
    "vault": "vault",
    "tracing": "tracing",
    "data_plane": "data_plane",
    "envoy": "envoy",
}


def test_every_setting_is_either_live_or_restart_only() -> None:
    fields = {f.name for f in dataclasses.fields(AgentConfig)}
    assert fields == LIVE | set(RESTART_KEYS)
    assert set(RESTART_ONLY) == set(RESTART_KEYS.values())


def test_an_added_service_is_planned_and_nothing_needs_a_restart() -> None:
    db = LocalService(name="db", id="db-1", port=5432)
    plan = plan_reload(RUNNING, dataclasses.replace(RUNNING, services=(API, WEB, db)))
    assert plan.added == ("db",)
    assert plan.removed == ()
    assert plan.changed == ()
    assert plan.restart_required == ()
    assert plan.config.services == (API, WEB, db)


def test_a_removed_and_a_changed_service_are_told_apart() -> None:
    moved = dataclasses.replace(WEB, port=9090)
    plan = plan_reload(RUNNING, dataclasses.replace(RUNNING, services=(moved,)))
    assert plan.removed == ("api",)
    assert plan.changed == ("web",)


def test_a_service_whose_id_changed_is_removed_and_added() -> None:
    renamed = dataclasses.replace(API, id="api-2")
    plan = plan_reload(RUNNING, dataclasses.replace(RUNNING, services=(renamed, WEB)))
    assert (plan.added, plan.removed) == (("api",), ("api",))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"node": "n2"}, "node"),
        ({"inbound_listen": HostPort("0.0.0.0", 20001)}, "inbound.listen"),
        ({"admin_listen": HostPort("127.0.0.1", 19101)}, "admin.listen"),
        ({"state_dir": "/elsewhere"}, "state_dir"),
        ({"consul": ConsulSettings(address="http://10.0.0.9:8500")}, "consul"),
    ],
)
def test_a_restart_only_setting_is_named_and_its_running_value_kept(change: dict[str, object], named: str) -> None:
    db = LocalService(name="db", id="db-1", port=5432)
    loaded = dataclasses.replace(RUNNING, services=(API, WEB, db), **change)  # type: ignore[arg-type]
    plan = plan_reload(RUNNING, loaded)
    assert plan.restart_required == (named,)
    assert dataclasses.replace(plan.config, services=RUNNING.services) == RUNNING
    assert plan.added == ("db",)  # the live part still applies


def test_live_settings_are_taken_from_the_new_file() -> None:
    loaded = dataclasses.replace(
        RUNNING, mtls_mode="permissive", intentions_default="allow", log_level="debug", access_log="errors"
    )
    plan = plan_reload(RUNNING, loaded)
    assert plan.config == loaded
    assert plan.restart_required == ()
    assert not plan.services_changed
