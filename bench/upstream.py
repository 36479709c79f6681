"""The upstream app: nginx on loopback serving two static bodies, one worker process."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from bench.paths import get
from bench.supervisor import StartupError, Supervisor, accepts, free_port

# A tiny body (the proxies' per-request cost dominates) and a 4 KiB one (bytes moved start to count).
BODIES: dict[str, bytes] = {
    "small": b"hello from nginx\n",
    "4k": bytes((ord("a") + i % 26) for i in range(4096)),
}


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int

    def url(self, body: str) -> str:
        return f"http://{self.host}:{self.port}/{body}"


def _worker_user() -> str | None:
    """Who nginx's worker runs as when the master is root (the static files are world-readable)."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return f"{nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name}"


def nginx_conf(prefix: Path, host: str, port: int, user: str | None) -> str:
    temp = prefix / "temp"
    return f"""\
{f"user {user};" if user else ""}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    # Never close a benchmark connection: a reconnect would add a TLS handshake to some paths.
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen {host}:{port};
        root {prefix}/html;
        location / {{ }}
    }}
}}
"""


def start_nginx(supervisor: Supervisor, nginx: str, workdir: Path, host: str) -> Upstream:
    """Write the site and config under `workdir`, start nginx, and check that it serves both bodies."""
    prefix = workdir / "nginx"
    (prefix / "html").mkdir(parents=True)
    (prefix / "temp").mkdir()
    for name, content in BODIES.items():
        (prefix / "html" / name).write_bytes(content)
    for path in (workdir, prefix, prefix / "html"):
        path.chmod(0o755)
    port = free_port(host)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, host, port, _worker_user()))
    proc = supervisor.start("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr"])
    supervisor.wait_until("nginx", proc, lambda: accepts(host, port), timeout=10, what=f"listening on {host}:{port}")
    upstream = Upstream(host, port)
    for name, content in BODIES.items():
        if get(upstream.url(name)) != (200, content):
            raise StartupError(
                "nginx", f"GET {upstream.url(name)} did not serve the static body", supervisor.log_path("nginx")
            )
    return upstream
