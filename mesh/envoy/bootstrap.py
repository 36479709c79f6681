"""The bootstrap of the host's Envoy: who it is, where its admin listens, and where its xDS comes from.

Everything that changes while the agent runs (listeners, clusters, routes, secrets) comes over
one ADS stream from the agent, so the bootstrap holds only what must be known before that stream
exists: the node identity, the admin interface, the one static cluster that dials the agent's
xDS server, and process-wide limits. No static listeners: a listener that did not come over xDS
could not be drained or replaced by the agent.

The xDS server is a unix socket in the agent's state directory, not a TCP port: Envoy's
configuration includes every local service's private key (SDS), and a socket file under a 0700
directory reaches only the agent's user and root.

`bootstrap` is pure (a dict ready for `json.dumps`); `write_bootstrap` puts it on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from mesh.config.model import HostPort
from mesh.envoy.stats import ENVOY_BUCKETS_MS

NODE_CLUSTER: Final = "mesh-agent"
# The static cluster of the agent's xDS server (the only cluster not served over ADS).
XDS_CLUSTER: Final = "mesh-xds"
# Every downstream connection costs Envoy memory (buffers, TLS state); without a ceiling a flood of
# connections exhausts the host instead of being refused. Far above what one host's services need.
MAX_DOWNSTREAM_CONNECTIONS: Final = 50_000
# Runtime values for every host's Envoy; none so far (Envoy's defaults). Runtime is process-wide:
# anything per listener or per cluster belongs in the xDS resources instead.
STATIC_RUNTIME: Final[dict[str, Any]] = {}
# Envoy's own default, written out: until the first listeners and clusters arrive (or this passes),
# Envoy's /ready answers PRE_INITIALIZING and the host serves nothing.
INITIAL_FETCH_TIMEOUT: Final = "15s"
# sun_path is 108 bytes on Linux, including the terminating NUL.
UNIX_PATH_MAX: Final = 107

_TYPES: Final = "type.googleapis.com/envoy.extensions"


def envoy_dir(state_dir: str | Path) -> Path:
    """The agent's files for Envoy: the bootstrap and the xDS socket (0700)."""
    return Path(state_dir) / "envoy"


def bootstrap_path(state_dir: str | Path) -> Path:
    return envoy_dir(state_dir) / "bootstrap.json"


def xds_socket_path(state_dir: str | Path) -> Path:
    """Where the agent's xDS server listens and Envoy dials (a unix socket)."""
    return envoy_dir(state_dir) / "xds.sock"


def bootstrap(
    *,
    node: str,
    admin: HostPort,
    xds_socket: str | Path,
    max_downstream_connections: int = MAX_DOWNSTREAM_CONNECTIONS,
    initial_fetch_timeout: str = INITIAL_FETCH_TIMEOUT,
) -> dict[str, Any]:
    """The bootstrap for the Envoy of node `node`; ValueError when the socket path cannot be dialled.

    `initial_fetch_timeout` (a protobuf Duration string) is how long Envoy waits for its first
    listeners and clusters before it reports LIVE regardless, serving what it has.
    """
    socket = str(xds_socket)
    if not os.path.isabs(socket):
        raise ValueError(f"the xDS socket path {socket!r} must be absolute (Envoy's working directory is not ours)")
    if len(socket.encode()) > UNIX_PATH_MAX:
        raise ValueError(
            f"the xDS socket path {socket!r} is longer than a unix socket allows ({UNIX_PATH_MAX} bytes): "
            "use a shorter state_dir"
        )
    if not node:
        raise ValueError("the node name must not be empty: it is the Envoy's identity toward the agent")
    return {
        "node": {"id": node, "cluster": NODE_CLUSTER},
        "admin": {
            # Admin requests (the supervisor's /ready polls) are not worth a log line each.
            "access_log": [
                {
                    "name": "envoy.access_loggers.file",
                    "typed_config": {"@type": f"{_TYPES}.access_loggers.file.v3.FileAccessLog", "path": "/dev/null"},
                }
            ],
            "address": {"socket_address": {"address": admin.host, "port_value": admin.port}},
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                # The agent tracks nodes by stream; the node need not be repeated in every request.
                "set_node_on_first_message_only": True,
            },
            "lds_config": _ads_source(initial_fetch_timeout),
            "cds_config": _ads_source(initial_fetch_timeout),
        },
        "static_resources": {"clusters": [_xds_cluster(socket)]},
        # Envoy 1.40 deprecates the runtime key overload.global_downstream_max_connections for this
        # resource monitor, and warns at every start that no limit is configured until it is there.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": f"{_TYPES}.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": max_downstream_connections,
                    },
                }
            ]
        },
        # A static layer only: without an admin layer, POST /runtime_modify on the admin interface cannot
        # change feature flags underneath the agent.
        "layered_runtime": {"layers": [{"name": "static", "static_layer": dict(STATIC_RUNTIME)}]},
        # Stat names split into tags (cluster name, listener address, response code) for Prometheus.
        # Request times in the builtin plane's latency buckets, so that the agent's
        # mesh_request_duration_seconds (mesh.envoy.stats) and Envoy's own histograms agree.
        "stats_config": {
            "use_all_default_tags": True,
            "histogram_bucket_settings": [{"match": {"suffix": "upstream_rq_time"}, "buckets": list(ENVOY_BUCKETS_MS)}],
        },
        # Histograms are merged when the agent reads /stats (every 2 s), not on a 5 s timer: what the
        # agent serves is as fresh as the counters, which Envoy updates live. No stats sink is used.
        "stats_flush_on_admin": True,
    }


def _ads_source(initial_fetch_timeout: str) -> dict[str, Any]:
    return {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": initial_fetch_timeout}


def _xds_cluster(socket: str) -> dict[str, Any]:
    return {
        "name": XDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        # gRPC needs HTTP/2 toward the agent.
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{_TYPES}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": socket}}}}]}],
        },
    }


def write_bootstrap(state_dir: str | Path, config: dict[str, Any]) -> Path:
    """Write `config` to `state_dir/envoy/bootstrap.json` (0600 in a 0700 directory); return the path.

    Written beside and renamed into place, so an Envoy (re)starting meanwhile reads the old file or
    the new one, never half of one. The directory's mode is enforced even when it already existed:
    it holds the xDS socket, through which the host's private keys are served.
    """
    directory = envoy_dir(state_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    target = bootstrap_path(state_dir)
    partial = directory / f".{target.name}.{os.getpid()}.tmp"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
