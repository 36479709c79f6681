"""Configure a Vault for the mesh: PKI, one leaf role per service, one policy and AppRole per host.

    python examples/vault-setup/setup.py --vault-addr https://vault.example:8200 \\
        --trust-domain mesh.example --host vm-web-1=web --host vm-api-1=api,billing

Each host's credentials sign only the SPIFFE IDs of the services named for it. Prints one
JSON object: per host, its RoleID and a fresh SecretID; the CA chain; what this run created;
warnings to act on. Safe to rerun: existing CAs are kept; hosts not named are left as they
are. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import hvac

from mesh.errors import MeshError
from mesh.vaultsetup import BootstrapSettings, bootstrap, host_spec_argument


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vault-addr", default=os.environ.get("VAULT_ADDR", "http://127.0.0.1:8200"))
    parser.add_argument("--token", default=os.environ.get("VAULT_TOKEN"), help="default: $VAULT_TOKEN")
    parser.add_argument("--trust-domain", required=True, help="e.g. the Consul CA's TrustDomain")
    parser.add_argument("--ca-cert", default=os.environ.get("VAULT_CACERT"), help="CA bundle to verify Vault's TLS")
    parser.add_argument(
        "--host",
        action="append",
        type=host_spec_argument,
        default=[],
        metavar="NODE=SERVICE[,SERVICE...]",
        help="a host (its Consul node name) and every service it runs; repeat per host",
    )
    parser.add_argument(
        "--datacenter",
        action="append",
        default=[],
        help="a datacenter whose agents use this PKI mount; repeat for several (default: dc1)",
    )
    parser.add_argument("--root-pki-path", default="pki")
    parser.add_argument("--pki-path", default="pki_int")
    parser.add_argument("--pki-role", default="mesh-leaf-{service}", help="role name per service")
    parser.add_argument("--policy", default="mesh-agent-{host}", help="policy name per host")
    parser.add_argument("--approle-path", default="approle")
    parser.add_argument("--approle-role", default="mesh-agent-{host}", help="AppRole role name per host")
    parser.add_argument("--leaf-max-ttl", default="72h")
    parser.add_argument("--token-ttl", default="1h")
    parser.add_argument("--token-max-ttl", default="24h")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is required: --token or VAULT_TOKEN")
    hosts: dict[str, tuple[str, ...]] = {}
    for node, services in args.host:
        if node in hosts:
            parser.error(f"--host {node} given twice: name all of its services once")
        hosts[node] = services

    try:
        settings = BootstrapSettings(
            trust_domain=args.trust_domain,
            hosts=hosts,
            datacenters=tuple(args.datacenter) or ("dc1",),
            root_pki_path=args.root_pki_path,
            pki_path=args.pki_path,
            pki_role=args.pki_role,
            policy=args.policy,
            approle_path=args.approle_path,
            approle_role=args.approle_role,
            leaf_max_ttl=args.leaf_max_ttl,
            token_ttl=args.token_ttl,
            token_max_ttl=args.token_max_ttl,
        )
    except ValueError as exc:
        parser.error(str(exc))
    client = hvac.Client(url=args.vault_addr, token=args.token, verify=args.ca_cert or True)
    try:
        result = bootstrap(client, settings)
    except MeshError as exc:
        print(f"vault-setup: {exc}", file=sys.stderr)
        return 1
    finally:
        client.adapter.close()
    for warning in result.warnings:
        print(f"vault-setup: warning: {warning}", file=sys.stderr)
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
