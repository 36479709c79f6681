"""The bootstrap settings refuse layouts Vault would refuse or that would break the mesh."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.vaultsetup import BootstrapSettings


def test_defaults_describe_the_documented_layout() -> None:
    settings = BootstrapSettings(trust_domain="example.test", hosts={"vm-web-1": ["web", "web-admin"]})

    assert (settings.root_pki_path, settings.pki_path, settings.pki_role) == ("pki", "pki_int", "mesh-leaf-{service}")
    assert settings.role_name("web") == "mesh-leaf-web"
    assert settings.policy_name("VM-Web-1") == settings.approle_name("vm-web-1") == "mesh-agent-vm-web-1"
    assert settings.spiffe_ids("web") == ("spiffe://example.test/ns/default/dc/dc1/svc/web",)
    assert settings.hosts == {"vm-web-1": ("web", "web-admin")}
    assert settings.services() == ("web", "web-admin")
    assert not settings.shared_dev_credentials
    assert settings.root_cn == "example.test Root CA"
    assert settings.intermediate_cn == "example.test Intermediate CA"


def test_a_role_allows_its_service_in_every_datacenter_sharing_the_mount() -> None:
    settings = BootstrapSettings(trust_domain="example.test", datacenters=("dc1", "dc2"))

    assert settings.spiffe_ids("api") == (
        "spiffe://example.test/ns/default/dc/dc1/svc/api",
        "spiffe://example.test/ns/default/dc/dc2/svc/api",
    )


def test_the_hosts_mapping_is_copied_so_a_later_change_to_it_does_not_alter_the_layout() -> None:
    hosts = {"vm-1": ["web"]}
    settings = BootstrapSettings(trust_domain="example.test", hosts=hosts)

    hosts["vm-1"].append("api")
    hosts["vm-2"] = ["db"]

    assert settings.hosts == {"vm-1": ("web",)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trust_domain": "not a domain"}, "invalid trust domain"),
        ({"intermediate_ttl": "87600h"}, "intermediate_ttl must be shorter than root_ttl"),
        ({"leaf_ttl": "96h"}, "leaf_ttl must not exceed leaf_max_ttl"),
        ({"leaf_max_ttl": "0"}, "leaf_max_ttl must be a positive duration"),
        ({"pki_path": "pki/"}, "must be different mounts"),
        ({"token_ttl": "soon"}, "invalid duration"),
        ({"pki_role": "mesh-leaf"}, "pki_role must contain {service} exactly once"),
        ({"pki_role": "{service}-{service}"}, "exactly once"),
        ({"pki_role": "leaf/{service}"}, "does not make valid Vault names"),
        ({"policy": "mesh-agent"}, "policy must contain {host} exactly once"),
        ({"approle_role": "agents"}, "approle_role must contain {host} exactly once"),
        ({"datacenters": ()}, "datacenters must be one or more"),
        ({"datacenters": ("dc 1",)}, "datacenters must be one or more"),
        ({"hosts": {"vm-1": []}}, "runs no service"),
        ({"hosts": {"vm-1": "web"}}, "must be a list of names"),
        ({"hosts": {"vm-1": ["web/../api"]}}, "not a valid service name"),
        ({"hosts": {"vm-1": ["*"]}}, "not a valid service name"),
        ({"hosts": {"vm 1": ["web"]}}, "invalid host name"),
        ({"hosts": {"VM-1": ["web"], "vm-1": ["api"]}}, "differ only by case"),
    ],
)
def test_inconsistent_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    arguments = {"trust_domain": "example.test", **changes}

    with pytest.raises(ValueError, match=message):
        BootstrapSettings(**arguments)
