"""`python -m mesh.devstack`: both stand-ins in the foreground, one JSON ready line on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from mesh.devstack.stack import DevStack
from mesh.vaultsetup import host_spec_argument


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mesh.devstack", description=__doc__)
    p.add_argument("--consul-port", type=int, required=True, help="Consul HTTP port (0: pick a free one)")
    p.add_argument("--vault-port", type=int, required=True, help="Vault HTTP port (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address both listen on (default: 127.0.0.1)")
    p.add_argument(
        "--datacenters",
        default="dc1",
        help="comma-separated datacenters, WAN-federated; the first is served on --consul-port",
    )
    p.add_argument("--acl-token", default=None, help="enable Consul ACLs with this management token")
    p.add_argument(
        "--acl-default-policy",
        choices=("allow", "deny"),
        default="deny",
        help="with --acl-token: what applies where no rule does (default: deny, as in production)",
    )
    p.add_argument(
        "--provision",
        action="append",
        type=host_spec_argument,
        default=[],
        metavar="NODE=SERVICE[,SERVICE...]",
        help="also provision this host's own Vault credentials (signing only these services); repeat per host",
    )
    return p


async def _serve(args: argparse.Namespace) -> int:
    stack = DevStack(
        host=args.host,
        consul_port=args.consul_port,
        vault_port=args.vault_port,
        datacenters=tuple(d.strip() for d in args.datacenters.split(",") if d.strip()),
        acl_management_token=args.acl_token,
        acl_default_policy=args.acl_default_policy,
        hosts=dict(args.provision),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
    except (OSError, ValueError) as exc:
        print(f"devstack: cannot start: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stack.info()), flush=True)
    await stop.wait()
    await stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_serve(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
