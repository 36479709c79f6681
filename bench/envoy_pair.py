"""The reference: two Envoys (one worker thread each) with leaves from the same Vault stand-in."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import hvac
import yaml

from bench.envoy_config import Address, TlsFiles, client_bootstrap, server_bootstrap
from bench.paths import CLIENT_SERVICE, HOST_A, HOST_B, ProxyPair, get, wait_for_body
from bench.supervisor import Supervisor, free_port
from bench.upstream import BODIES, Upstream
from mesh.certs.leaf import build_csr, generate_key, key_pem
from mesh.identity import ServiceIdentity

SERVER_SERVICE = "origin-envoy"
DATACENTER = "dc1"  # the stand-in's default datacenter


def issue_leaf(info: dict[str, Any], identity: ServiceIdentity, pki_dir: Path) -> TlsFiles:
    """A leaf signed by the stand-in's Vault PKI, as the agent gets its own (key generated here)."""
    vault = hvac.Client(url=info["vault"], token=info["vault_token"])
    key = generate_key()
    data = vault.secrets.pki.sign_certificate(
        name=info["pki_role"],
        csr=build_csr(key, identity),
        common_name=identity.service,
        extra_params={"uri_sans": identity.spiffe_id, "ttl": "1h"},
        mount_point=info["pki_path"],
    )["data"]
    files = TlsFiles(
        cert_chain=pki_dir / f"{identity.service}.crt",
        private_key=pki_dir / f"{identity.service}.key",
        trusted_ca=pki_dir / "bundle.pem",
    )
    files.cert_chain.write_text("\n".join([data["certificate"], *data.get("ca_chain", [])]) + "\n")
    files.private_key.write_text(key_pem(key))
    files.private_key.chmod(0o600)
    files.trusted_ca.write_text(vault.secrets.pki.read_ca_certificate_chain(mount_point=info["pki_path"]))
    return files


def start_envoy(
    supervisor: Supervisor, envoy: str, name: str, bootstrap: dict[str, Any], conf: Path, admin: Address
) -> subprocess.Popen[bytes]:
    conf.write_text(yaml.safe_dump(bootstrap, sort_keys=False))
    # One worker thread, like the agent's single event loop; no hot restart, so no shared memory.
    argv = [envoy, "-c", str(conf), "--concurrency", "1", "--disable-hot-restart", "-l", "warning"]
    proc = supervisor.start(name, argv)
    supervisor.wait_until(
        name, proc, lambda: _live(admin), timeout=30, what=f"live (admin {admin.host}:{admin.port}/ready)"
    )
    return proc


def _live(admin: Address) -> bool:
    answer = get(f"http://{admin.host}:{admin.port}/ready", timeout=1)
    return answer is not None and answer[0] == 200


def start_envoy_pair(
    supervisor: Supervisor, envoy: str, workdir: Path, info: dict[str, Any], upstream: Upstream, mode: str
) -> ProxyPair:
    td = info["trust_domain"]
    client_id = ServiceIdentity(td, DATACENTER, CLIENT_SERVICE)
    server_id = ServiceIdentity(td, DATACENTER, SERVER_SERVICE)
    home = workdir / f"envoy-{mode.lower()}"
    (home / "pki").mkdir(parents=True, mode=0o700)
    client_tls, server_tls = (issue_leaf(info, ident, home / "pki") for ident in (client_id, server_id))

    tag = mode.lower()
    b_listen = Address(HOST_B, free_port(HOST_B))
    b_admin = Address("127.0.0.1", free_port("127.0.0.1"))
    b_conf = server_bootstrap(
        mode=mode,
        listen=b_listen,
        sni=server_id.sni,
        client_spiffe=client_id.spiffe_id,
        tls=server_tls,
        app=Address(upstream.host, upstream.port),
        admin=b_admin,
    )
    b = start_envoy(supervisor, envoy, f"envoy-b-{tag}", b_conf, home / "envoy-b.yaml", b_admin)

    a_listen = Address(HOST_A, free_port(HOST_A))
    a_admin = Address("127.0.0.1", free_port("127.0.0.1"))
    a_conf = client_bootstrap(
        mode=mode,
        listen=a_listen,
        server=b_listen,
        sni=server_id.sni,
        server_spiffe=server_id.spiffe_id,
        tls=client_tls,
        admin=a_admin,
    )
    a = start_envoy(supervisor, envoy, f"envoy-a-{tag}", a_conf, home / "envoy-a.yaml", a_admin)

    admins = tuple(f"http://{x.host}:{x.port}" for x in (a_admin, b_admin))
    pair = ProxyPair(f"http://{a_listen.host}:{a_listen.port}", (a, b), admins)
    wait_for_body(
        f"envoy {mode} path", pair.url("small"), BODIES["small"], timeout=10, log=supervisor.log_path(f"envoy-a-{tag}")
    )
    return pair
