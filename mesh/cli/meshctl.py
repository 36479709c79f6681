"""`meshctl`: the operator CLI. Talks to the local agent's admin API and to Consul.

Exit status: 0 for a positive answer, 1 for a negative answer or invalid input, 2 when the
agent or Consul cannot be reached. Errors go to standard error, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, TextIO

from mesh.cli import certs, config_read, config_write, explain, intention_check, status, topology
from mesh.cli.errors import NEGATIVE, UNREACHABLE
from mesh.cli.options import add_common
from mesh.errors import BackendUnavailable, InvalidDocument, MeshError


class _Parser(argparse.ArgumentParser):
    """Usage errors are invalid input: exit status 1, as documented, not argparse's 2
    (which here means "a backend cannot be reached")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(NEGATIVE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meshctl", description="Operate the service mesh: the local agent and Consul.")
    add_common(parser, defaults=True)
    common = _Parser(add_help=False)
    add_common(common, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status.register(commands, common)
    certs.register(commands, common)
    config = commands.add_parser("config", help="traffic documents in Consul KV: get, put, validate, diff, ...")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    config_read.register(config_commands, common)
    config_write.register(config_commands, common)
    intention = commands.add_parser("intention", help="Consul intentions: check a caller against them")
    intention_check.register(intention.add_subparsers(dest="intention_command", required=True), common)
    explain.register(commands, common)
    topology.register(commands, common)
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, stdout, stderr)
    except InvalidDocument as exc:
        stderr.write(f"meshctl: invalid: {exc}\n")
        return NEGATIVE
    except BackendUnavailable as exc:
        stderr.write(f"meshctl: {exc}\n")
        return UNREACHABLE
    except MeshError as exc:  # Refused, a backend's 4xx (BackendRefused), ...
        stderr.write(f"meshctl: {exc}\n")
        return NEGATIVE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `meshctl ... | head`: the reader had enough
    except Exception as exc:  # the last line of defence: operators get a sentence, not a traceback
        stderr.write(f"meshctl: unexpected error ({type(exc).__name__}): {exc}\n")
        return NEGATIVE
    return code


if __name__ == "__main__":
    sys.exit(main())
