"""Options every command accepts, before or after the command name, and what they build."""

from __future__ import annotations

import argparse
import os

from mesh.cli.admin_api import DEFAULT_ADMIN
from mesh.cli.consul_api import ConsulApi, resolve_target
from mesh.cli.output import FORMATS, Format
from mesh.traffic import KINDS

DEFAULT_PREFIX = "mesh/config"


def add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The shared options.

    With `defaults=False` (on each command) an option left out does not overwrite what was
    given before the command name, so `meshctl -o json status` and `meshctl status -o json`
    mean the same. Help texts spell defaults out: `%(default)s` fails on SUPPRESS.
    """

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("-o", "--output", choices=FORMATS, default=default("table"), help="output format")
    parser.add_argument(
        "--admin",
        default=default(DEFAULT_ADMIN),
        metavar="URL",
        help=f"the local agent's admin API (default {DEFAULT_ADMIN})",
    )
    parser.add_argument(
        "--consul-addr", default=default(None), metavar="URL", help="Consul's HTTP API (else $CONSUL_HTTP_ADDR)"
    )
    parser.add_argument(
        "--token-file", default=default(None), metavar="PATH", help="Consul ACL token file (else $CONSUL_HTTP_TOKEN)"
    )
    parser.add_argument(
        "--ca-file", default=default(None), metavar="PATH", help="CA bundle for Consul over https (else $CONSUL_CACERT)"
    )
    parser.add_argument(
        "--prefix",
        default=default(DEFAULT_PREFIX),
        metavar="PREFIX",
        help=f"KV prefix of the traffic documents, the agents' consul.config_prefix (default {DEFAULT_PREFIX})",
    )


def output_of(args: argparse.Namespace) -> Format:
    fmt: Format = args.output
    return fmt


def consul_for(args: argparse.Namespace) -> ConsulApi:
    return ConsulApi(resolve_target(args.consul_addr, args.token_file, args.ca_file, os.environ))


def add_document_arguments(parser: argparse.ArgumentParser, *, with_file: bool = False) -> None:
    """KIND SERVICE: which document, as in its key `<prefix>/<kind>/<service>`; then FILE, the
    document's new text, for the commands that take one."""
    parser.add_argument("kind", metavar="KIND", help=f"one of {', '.join(KINDS)}")
    parser.add_argument("service", metavar="SERVICE")
    if with_file:
        parser.add_argument("file", metavar="FILE", help="JSON or YAML file, or - for standard input")
