"""A real Consul stand-in (the devstack's, on loopback) for the commands that read and write Consul."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import consul
import pytest

from mesh.cli.consul_api import ConsulApi, ConsulTarget
from mesh.cli.meshctl import main
from mesh.devstack.consul import ConsulServer
from mesh.devstack.threaded import StandInThread

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


@dataclass
class Run:
    code: int
    out: str
    err: str


def meshctl(*argv: str) -> Run:
    """Run meshctl in this process, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class ConsulStandIn:
    url: str
    client: consul.Consul

    def api(self) -> ConsulApi:
        return ConsulApi(ConsulTarget(self.url))

    def meshctl(self, *argv: str) -> Run:
        return meshctl("--consul-addr", self.url, *argv)


@pytest.fixture
def consul_standin() -> Iterator[ConsulStandIn]:
    """An empty Consul of its own for each test."""
    server = ConsulServer(trust_domain=TRUST_DOMAIN)
    with StandInThread(server, name="cli-consul"):
        yield ConsulStandIn(server.url, consul.Consul(host=server.host, port=server.port))
