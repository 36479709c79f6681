"""The upstream app: nginx on loopback serving two static bodies, one worker process.

A second port speaks h2c (HTTP/2 with prior knowledge, nginx's `listen ... http2` without TLS)
for the HTTP/2 rows: the same bodies, and `GRPC_PATH` answered as a gRPC unary call would be
(`application/grpc`, one length-prefixed message, `grpc-status: 0` in the trailers). nginx's
static handler refuses POST, so the gRPC location turns its 405 into the file (`error_page`).
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from bench.paths import get
from bench.supervisor import StartupError, Supervisor, accepts, free_ports

# A tiny body (the proxies' per-request cost dominates) and a 4 KiB one (bytes moved start to count).
BODIES: dict[str, bytes] = {
    "small": b"hello from nginx\n",
    "4k": bytes((ord("a") + i % 26) for i in range(4096)),
}
GRPC_PATH = "bench.Bench/Unary"
GRPC_RESPONSE = b"\x00\x00\x00\x00\x05\x0a\x03xyz"  # one message: field 1 = "xyz"


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int
    h2c_port: int | None = None  # the same site over h2c, when started with one

    def url(self, body: str) -> str:
        return f"http://{self.host}:{self.port}/{body}"

    def h2c(self) -> Upstream | None:
        """This nginx's h2c side as an upstream of its own (what an http2/grpc service points at)."""
        return Upstream(self.host, self.h2c_port) if self.h2c_port is not None else None


def _worker_user() -> str | None:
    """Who nginx's worker runs as when the master is root (the static files are world-readable)."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return f"{nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name}"


def _h2c_server(prefix: Path, host: str, port: int) -> str:
    return f"""
    server {{
        listen {host}:{port} http2;
        # With sendfile, nginx writes a DATA frame apart from its HEADERS and one request at a
        # time stalls on Nagle and delayed ACK (about 40 ms a request); without, it is one write.
        sendfile off;
        root {prefix}/html;
        location / {{ }}
        location /{GRPC_PATH.split("/")[0]}/ {{
            default_type application/grpc;
            add_trailer grpc-status 0;
            error_page 405 =200 $uri;
        }}
    }}"""


def nginx_conf(prefix: Path, host: str, port: int, user: str | None, h2c_port: int | None = None) -> str:
    temp = prefix / "temp"
    h2c = _h2c_server(prefix, host, h2c_port) if h2c_port is not None else ""
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
    }}{h2c}
}}
"""


def start_nginx(supervisor: Supervisor, nginx: str, workdir: Path, host: str) -> Upstream:
    """Write the site and config under `workdir`, start nginx, and check that it serves both bodies."""
    prefix = workdir / "nginx"
    (prefix / "html").mkdir(parents=True)
    (prefix / "temp").mkdir()
    for name, content in BODIES.items():
        (prefix / "html" / name).write_bytes(content)
    grpc = prefix / "html" / GRPC_PATH
    grpc.parent.mkdir()
    grpc.write_bytes(GRPC_RESPONSE)
    for path in (workdir, prefix, prefix / "html", grpc.parent):
        path.chmod(0o755)
    port, h2c_port = free_ports(host, 2)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, host, port, _worker_user(), h2c_port))
    proc = supervisor.start("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr"])
    supervisor.wait_until("nginx", proc, lambda: accepts(host, port), timeout=10, what=f"listening on {host}:{port}")
    upstream = Upstream(host, port, h2c_port)
    for name, content in BODIES.items():
        if get(upstream.url(name)) != (200, content):
            raise StartupError(
                "nginx", f"GET {upstream.url(name)} did not serve the static body", supervisor.log_path("nginx")
            )
    return upstream
