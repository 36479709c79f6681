"""Listeners that act with the host's authority stay on loopback unless the config says otherwise.

An upstream listener dials with this host's service identity, so anyone who can reach it
calls as that service; the admin API tells its metrics and status to anyone who asks.
"""

import pytest

from mesh.config import parse_config
from mesh.config.exposure import remote_listeners
from mesh.errors import InvalidDocument

MINIMAL = """
node: n1
advertise_address: 10.0.0.5
vault:
  auth: {method: token, token_file: /t}
"""


def config_with(*, admin: str = "", upstream: str = "") -> str:
    text = MINIMAL
    if admin:
        text += f"admin: {{{admin}}}\n"
    if upstream:
        api = f"{{destination_name: api, local_bind_port: 15001, {upstream}}}"
        text += f"services: [{{name: web, port: 8080, upstreams: [{api}]}}]\n"
    return text


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(InvalidDocument) as info:
        parse_config(text)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "[::]", "vm-web-1.example.com"])
def test_an_admin_api_off_loopback_is_refused_without_the_opt_in(host: str) -> None:
    problems = problems_of(config_with(admin=f"listen: '{host}:19100'"))
    assert "not a loopback address" in problems["admin.listen"]
    assert "admin.allow_remote" in problems["admin.listen"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "::", "app-host"])
def test_an_upstream_listener_off_loopback_is_refused_without_the_opt_in(host: str) -> None:
    problems = problems_of(config_with(upstream=f"local_bind_address: '{host}'"))
    message = problems["services[0].upstreams[0].local_bind_address"]
    assert "not a loopback address" in message
    assert "as web" in message
    assert "allow_remote_callers" in message


@pytest.mark.parametrize("opt_in", ["", "allow_remote_callers: true"])
def test_an_empty_upstream_bind_address_is_refused_it_would_listen_on_every_interface(opt_in: str) -> None:
    upstream = "local_bind_address: ''" + (f", {opt_in}" if opt_in else "")
    problems = problems_of(config_with(upstream=upstream))
    assert "listens on every interface" in problems["services[0].upstreams[0].local_bind_address"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_addresses_need_no_opt_in_and_raise_no_warning(host: str) -> None:
    listen = f"[{host}]:19100" if ":" in host else f"{host}:19100"
    cfg = parse_config(config_with(admin=f"listen: '{listen}'", upstream=f"local_bind_address: '{host}'"))
    assert remote_listeners(cfg) == []


def test_the_defaults_are_loopback() -> None:
    cfg = parse_config(config_with(upstream="datacenter: dc2"))
    assert cfg.admin_listen.host == "127.0.0.1"
    assert cfg.services[0].upstreams[0].local_bind_address == "127.0.0.1"
    assert remote_listeners(cfg) == []


def test_with_the_opt_ins_the_config_loads_and_each_exposed_listener_is_a_warning() -> None:
    cfg = parse_config(
        config_with(
            admin="listen: '0.0.0.0:19100', allow_remote: true",
            upstream="local_bind_address: 0.0.0.0, allow_remote_callers: true",
        )
    )
    assert cfg.admin_allow_remote
    assert cfg.services[0].upstreams[0].allow_remote_callers
    exposed = {w.key: w for w in remote_listeners(cfg)}
    assert set(exposed) == {"admin.listen", "services[0].upstreams[0].local_bind_address"}
    assert exposed["admin.listen"].address == "0.0.0.0:19100"
    assert "metrics and status" in exposed["admin.listen"].message
    upstream = exposed["services[0].upstreams[0].local_bind_address"]
    assert upstream.address == "0.0.0.0:15001"
    assert "call api as web" in upstream.message


def test_an_opt_in_on_one_upstream_does_not_cover_another() -> None:
    text = MINIMAL + (
        "services: [{name: web, port: 8080, upstreams: ["
        "{destination_name: api, local_bind_port: 15001, local_bind_address: 0.0.0.0, allow_remote_callers: true},"
        "{destination_name: db, local_bind_port: 15002, local_bind_address: 0.0.0.0}]}]\n"
    )
    problems = problems_of(text)
    assert list(problems) == ["services[0].upstreams[1].local_bind_address"]


def test_the_opt_ins_must_be_booleans() -> None:
    problems = problems_of(config_with(admin="listen: '0.0.0.0:19100', allow_remote: 'yes please'"))
    assert "admin.allow_remote" in problems
