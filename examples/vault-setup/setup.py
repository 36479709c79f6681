"""Configure a Vault for the mesh: PKI (root + intermediate), the leaf role, the agent policy, AppRole.

    python examples/vault-setup/setup.py --vault-addr https://vault.example:8200 --trust-domain mesh.example

Prints one JSON object: the RoleID and a fresh SecretID for the agents, the CA chain, and
what this run created. Safe to rerun: existing CAs are kept. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import hvac

from mesh.errors import MeshError
from mesh.vaultsetup import BootstrapSettings, bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vault-addr", default=os.environ.get("VAULT_ADDR", "http://127.0.0.1:8200"))
    parser.add_argument("--token", default=os.environ.get("VAULT_TOKEN"), help="default: $VAULT_TOKEN")
    parser.add_argument("--trust-domain", required=True, help="e.g. the Consul CA's TrustDomain")
    parser.add_argument("--ca-cert", default=os.environ.get("VAULT_CACERT"), help="CA bundle to verify Vault's TLS")
    parser.add_argument("--root-pki-path", default="pki")
    parser.add_argument("--pki-path", default="pki_int")
    parser.add_argument("--pki-role", default="mesh-leaf")
    parser.add_argument("--policy", default="mesh-agent")
    parser.add_argument("--approle-path", default="approle")
    parser.add_argument("--approle-role", default="mesh-agent")
    parser.add_argument("--leaf-max-ttl", default="72h")
    parser.add_argument("--token-ttl", default="1h")
    parser.add_argument("--token-max-ttl", default="24h")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is required: --token or VAULT_TOKEN")

    try:
        settings = BootstrapSettings(
            trust_domain=args.trust_domain,
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
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
